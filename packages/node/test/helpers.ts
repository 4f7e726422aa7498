import http, {
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { createProxy, type ProxyHandler, type ProxyOptions } from '../src';
import type { Balancer, BalancerOptions } from '@ballast/core';

/** Everything a test opened, closed in reverse order by `cleanup()`. */
const opened: (() => Promise<void>)[] = [];

export async function cleanup(): Promise<void> {
  while (opened.length > 0) await opened.pop()!();
}

/** A real server on 127.0.0.1, port 0; `kill()` closes it and drops its connections at once. */
export interface TestServer {
  readonly server: Server;
  readonly url: string;
  readonly port: number;
  /** Requests it received (method and url), in order. */
  readonly received: { method: string; url: string }[];
  kill(): Promise<void>;
}

export async function listen(handler: RequestListener): Promise<TestServer> {
  const received: { method: string; url: string }[] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method!, url: req.url! });
    handler(req, res);
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let killed = false;
  const kill = async () => {
    if (killed) return;
    killed = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  };
  opened.push(kill);
  return { server, url: `http://127.0.0.1:${port}`, port, received, kill };
}

/** An upstream that answers its name (and echoes the request) after `delayMs`. */
export function named(name: string, delayMs = 0): Promise<TestServer> {
  return listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const reply = () => {
        res.setHeader('x-upstream', name);
        res.end(name);
      };
      if (delayMs > 0) setTimeout(reply, delayMs);
      else reply();
    });
  });
}

/** A URL nothing listens on (connection refused). */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/**
 * A URL whose connections never open: a listener with a one-place accept queue, in a child
 * process that never accepts (its event loop is kept busy), with the queue filled. The kernel
 * then drops each new SYN, so a connect waits until its own timeout, as to a host that is down.
 */
export async function blackholeUrl(): Promise<string> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         setTimeout(() => { for (;;); }, 50); // stdout flushed first; then never accept
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  opened.push(async () => {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  await new Promise((resolve) => setTimeout(resolve, 100)); // the loop is busy by now
  // Fill the queue: connect until a connection stays pending.
  for (let i = 0; i < 8; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    opened.push(async () => void socket.destroy());
    const connected = await Promise.race([
      once(socket, 'connect').then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 200)),
    ]);
    if (!connected) return `http://127.0.0.1:${port}`;
  }
  throw new Error('could not fill the accept queue of the black-hole listener');
}

/** A plain node:http gateway running a proxy; the proxy and the server close in cleanup. */
export async function gateway(
  balancerOrOptions: Balancer | BalancerOptions,
  options?: ProxyOptions,
): Promise<{ proxy: ProxyHandler; url: string; server: Server }> {
  const proxy = createProxy(balancerOrOptions, options);
  const server = http.createServer(proxy);
  server.on('upgrade', proxy.upgrade);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  opened.push(async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
    await proxy.close();
  });
  return { proxy, url: `http://127.0.0.1:${port}`, server };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** One request over a fresh connection (no agent: nothing stays open). */
export function send(
  url: string,
  options: {
    method?: string;
    path?: string;
    headers?: http.OutgoingHttpHeaders;
    body?: Buffer | string;
  } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}${options.path ?? '/'}`,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: res.statusCode!, headers: res.headers, body, text: body.toString() });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Resolves when `check()` holds, polling every 10 ms; fails after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Sum of in-flight leases over the balancer's instances. */
export function inflight(balancer: Balancer): number {
  return balancer.snapshot().instances.reduce((sum, i) => sum + i.inflight, 0);
}

export function respond(res: ServerResponse, status: number, body = ''): void {
  res.statusCode = status;
  res.end(body);
}
