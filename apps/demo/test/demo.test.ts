import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';

import type { StatusSnapshot } from '@ballast/express';
import { closeServer, listen, request, waitFor } from '@ballast/testing';

// `npm start` runs this very file with node (package.json: "start": "node apps/demo/index.mjs").
const DEMO = path.join(__dirname, '..', 'index.mjs');

test('the demo gateway answers through its three upstreams and stops cleanly on SIGTERM', async () => {
  // Take a port first, so the demo has to fall back from a busy PORT to a free one.
  const squatter = http.createServer();
  const busy = new URL(await listen(squatter)).port;
  const child = spawn(process.execPath, [DEMO], {
    env: { ...process.env, PORT: busy },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  try {
    await waitFor(() => /Gateway listening on http:\/\/\S+/.test(out), { timeoutMs: 20_000 }).catch(
      (err: Error) => {
        throw new Error(`${err.message}; the demo printed:\n${out}`);
      },
    );
    expect(out).toContain(`Port ${busy} is busy`);
    const url = /Gateway listening on (http:\/\/\S+)/.exec(out)![1]!;
    expect(url).not.toBe(`http://127.0.0.1:${busy}`);

    const answers = await Promise.all(Array.from({ length: 6 }, () => request(`${url}/hello`)));
    for (const res of answers) {
      expect(res.status).toBe(200);
      expect(res.json()).toMatchObject({
        path: '/hello',
        upstream: expect.stringMatching(/^(alpha|beta|gamma)$/),
      });
    }
    const snapshot = (await request(`${url}/ballast/snapshot.json`)).json<StatusSnapshot>();
    expect(snapshot.services[0]!.instances.map((i) => i.id)).toEqual(['alpha', 'beta', 'gamma']);
    expect(snapshot.services[0]!.instances.reduce((n, i) => n + i.recent.requests, 0)).toBe(6);
    expect((await request(`${url}/ballast/`)).text).toContain('<title>Ballast status</title>');
  } finally {
    child.kill('SIGTERM');
    await closeServer(squatter);
  }
  expect(await exited).toEqual({ code: 0, signal: null });
  expect(out).toContain('Stopped.');
}, 40_000);
