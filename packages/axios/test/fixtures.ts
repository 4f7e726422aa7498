import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import { createBalancer, type Balancer, type BalancerEvents, type BalancerOptions } from '@ballast/core';
import { startUpstreams, type Upstream } from '@ballast/testing';

const SCRIPTED = new Set(['status', 'slow', 'hang', 'stream', 'break']);

/**
 * Upstreams whose answer the path chooses, so one test can mix outcomes:
 * `/status/<code>`, `/slow/<ms>` (then the echo), `/hang` (never answers),
 * `/stream/<chunks>` (a chunked body, one chunk every 5 ms), `/break` (headers and one chunk,
 * then the connection dies); anything else gets the JSON echo.
 */
export function scripted(req: IncomingMessage, res: ServerResponse): 'default' | void {
  const [, verb, arg = ''] = (req.url ?? '').split('/');
  if (verb === undefined || !SCRIPTED.has(verb)) return 'default';
  req.resume();
  switch (verb) {
    case 'status':
      res.writeHead(Number(arg), { 'content-type': 'text/plain' }).end(`status ${arg}`);
      return;
    case 'slow': {
      const timer = setTimeout(() => res.end('slow'), Number(arg));
      res.on('close', () => clearTimeout(timer));
      return;
    }
    case 'hang':
      return;
    case 'stream': {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let left = Number(arg);
      const timer = setInterval(() => {
        if (left-- > 0) res.write('chunk\n');
        else {
          clearInterval(timer);
          res.end();
        }
      }, 5);
      res.on('close', () => clearInterval(timer));
      return;
    }
    case 'break':
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial', () => setTimeout(() => res.socket?.destroy(), 5));
      return;
    default:
      return 'default';
  }
}

/** Starts `n` scripted upstreams (named a, b, c...). */
export async function startScripted(n: number): Promise<Upstream[]> {
  const upstreams = await startUpstreams(n);
  for (const upstream of upstreams) upstream.behaviour = scripted;
  return upstreams;
}

/** A URL on 127.0.0.1 where nothing listens: a port that was just free. */
export async function refusedUrl(): Promise<string> {
  const [gone] = await startUpstreams(['gone']);
  await gone!.close();
  return gone!.url;
}

/**
 * Upstreams and balancers for one test file, closed after each test (`afterEach` is registered
 * here), so a failed assertion never leaves a server or a balancer behind.
 */
export function useFixtures() {
  const upstreams: Upstream[] = [];
  const servers: http.Server[] = [];
  const balancers: Balancer[] = [];
  afterEach(async () => {
    for (const balancer of balancers.splice(0)) balancer.close();
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    await Promise.all(
      servers.splice(0).map((server) => {
        server.closeAllConnections();
        return new Promise((resolve) => server.close(resolve));
      }),
    );
  });
  return {
    balancers,
    /** A server of `handler` on 127.0.0.1, port 0: its URL. */
    async serve(handler: http.RequestListener): Promise<string> {
      const server = http.createServer(handler);
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    },
    async start(n: number): Promise<Upstream[]> {
      const started = await startScripted(n);
      upstreams.push(...started);
      return started;
    },
    /** A round-robin balancer over `urls`, without outlier ejection or slow start unless told. */
    balancerOver(urls: readonly string[], options: BalancerOptions = {}): Balancer {
      const balancer = createBalancer({
        service: 'users',
        instances: urls,
        strategy: 'round-robin',
        health: { outlier: false, slowStart: false },
        ...options,
      });
      balancers.push(balancer);
      return balancer;
    },
  };
}

/** Every `release` event of `balancer`, in order. */
export function recordReleases(balancer: Balancer): Array<BalancerEvents['release']> {
  const releases: Array<BalancerEvents['release']> = [];
  balancer.on('release', (event) => releases.push(event));
  return releases;
}
