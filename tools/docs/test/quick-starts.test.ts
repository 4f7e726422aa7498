import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { request } from '@ballast/testing';

import { startUpstream, type DemoUpstream } from '../../../apps/upstream/src';
import { findSnippets, portsOf, remapPorts, ROOT, type Snippet } from '../src/snippets';

/** Markdown files whose `<!-- run:NAME -->` snippets must run as written. */
const FILES = ['README.md', 'packages/express/README.md', 'packages/koa/README.md'];

interface Check {
  /** Documentation ports on which the reader has started demo upstreams before running it. */
  readonly upstreams?: readonly number[];
  /** For a server: assertions once it answers on the docs' port 3000 (`url(3000)` is where it went). */
  readonly verify?: (url: (port: number) => string) => Promise<void>;
  /** For a script: assertions on what it printed, once it exited 0. */
  readonly printed?: (output: string) => void;
}

const answersUsers = async (url: (port: number) => string): Promise<void> => {
  for (let i = 0; i < 4; i += 1) {
    const res = await request(`${url(3000)}/users/42`);
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/42/);
  }
};

/** What each snippet must do once started. A snippet without an entry fails the test. */
const CHECKS: Record<string, Check> = {
  'express-quick-start': { upstreams: [3001, 3002], verify: answersUsers },
  'koa-quick-start': { upstreams: [3001, 3002], verify: answersUsers },
  'nest-quick-start': { upstreams: [3001, 3002], verify: answersUsers },
  'axios-quick-start': {
    upstreams: [3001, 3002],
    printed: (output) => {
      const lines = output.trim().split('\n');
      expect(lines).toHaveLength(4);
      for (const line of lines) expect(line).toMatch(/^\d upstream-300[12]$/);
      // Both instances answered.
      expect(new Set(lines.map((line) => line.split(' ')[1])).size).toBe(2);
    },
  },
  'express-example': { verify: answersUsers },
  'koa-example': { verify: answersUsers },
};

const snippets = findSnippets(FILES);
const tmp = path.join(__dirname, '..', 'tmp');

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('the documentation has runnable snippets, each with a check', () => {
  expect(snippets.map((s) => s.name).sort()).toEqual(Object.keys(CHECKS).sort());
});

describe.each(snippets.map((s) => [`${s.file}: ${s.name}`, s] as [string, Snippet]))(
  '%s',
  (_title, snippet) => {
    let child: ChildProcess | undefined;
    const upstreams: DemoUpstream[] = [];
    afterEach(async () => {
      child?.kill('SIGKILL');
      await Promise.all(upstreams.map((u) => u.close()));
    });

    test('runs as written and answers', async () => {
      const check = CHECKS[snippet.name];
      if (check === undefined) throw new Error(`no check for snippet ${snippet.name}`);
      const ports = new Map<number, number>();
      for (const port of portsOf(snippet.code)) ports.set(port, await freePort());
      const url = (port: number): string => `http://127.0.0.1:${ports.get(port) ?? port}`;
      for (const port of check.upstreams ?? [])
        upstreams.push(
          await startUpstream({ name: `upstream-${port}`, port: ports.get(port), latencyMs: 1 }),
        );

      mkdirSync(tmp, { recursive: true });
      const file = path.join(tmp, `${snippet.name}.${snippet.lang === 'ts' ? 'ts' : 'cjs'}`);
      writeFileSync(file, remapPorts(snippet.code, ports));
      const running = spawn(process.execPath, ['-r', path.join(ROOT, 'tools/sim/register.cjs'), file], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = running;
      let out = '';
      running.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      running.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString()));
      let exited: number | null | undefined;
      running.once('exit', (code) => (exited = code));

      if (check.printed !== undefined) {
        const code = await new Promise<number | null>((resolve) => {
          if (exited !== undefined) resolve(exited);
          else running.once('exit', resolve);
        });
        expect({ code, out }).toMatchObject({ code: 0 });
        check.printed(out);
        return;
      }
      // Wait until the snippet's gateway answers anything at all (or the snippet dies).
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (exited !== undefined)
          throw new Error(`the snippet exited with ${String(exited)}; it printed:\n${out}`);
        if (Date.now() > deadline)
          throw new Error(`the snippet did not answer within 20 s; it printed:\n${out}`);
        const up = await request(url(3000)).then(
          () => true,
          () => false,
        );
        if (up) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await check.verify!(url);
    }, 40_000);
  },
);
