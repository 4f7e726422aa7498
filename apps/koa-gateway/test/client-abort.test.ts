/**
 * A client that goes away in the middle of a streamed response is routine for a gateway: the Koa
 * example does not print a stack trace for it (Koa's default error output printed two).
 */
import http from 'node:http';

import { closeServer, listen } from '@ballast/testing';

import { startGateway } from '../src/gateway';

test('a client leaving mid-response prints nothing; the upstream request is given up', async () => {
  const printed: string[] = [];
  const print = jest.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
    printed.push(args.map(String).join(' '));
  });
  let upstreamClosed = false;
  const upstream = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('x'.repeat(100_000)), 10);
    res.on('close', () => {
      clearInterval(timer);
      upstreamClosed = true;
    });
  });
  const url = await listen(upstream);
  const gateway = await startGateway({ services: { users: [url] }, port: 0 });
  try {
    await new Promise<void>((resolve) => {
      const req = http.get(`${gateway.url}/users/1`, (res) => {
        res.once('data', () => {
          req.destroy();
          setTimeout(resolve, 300);
        });
      });
      req.on('error', () => undefined);
    });
    expect(upstreamClosed).toBe(true);
    expect(printed).toEqual([]);
  } finally {
    print.mockRestore();
    await gateway.close();
    upstream.closeAllConnections();
    await closeServer(upstream);
  }
});
