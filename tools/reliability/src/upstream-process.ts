/**
 * One upstream of the reliability runs, in its own process so that a kill is a real process exit.
 * It answers a JSON body of about 1.5 KiB (with a Content-Length) after `delayMs`, and takes its
 * fault from its parent over IPC:
 *
 * - `normal`: answers every request;
 * - `hang`: accepts connections and reads requests, never answers (until the fault ends: then
 *   the requests it still holds are answered, as by a process that unfreezes);
 * - `slow`: answers `slowFactor` (5) times later than normal;
 * - `flap`: alternates between 503 and 200 every `flapMs`, starting with 503;
 * - `reset`: sends the head and half of the body, then resets the connection;
 * - `close-early`: answers, then closes the keep-alive connection a moment later, although its
 *   `Keep-Alive: timeout=5` header promised to keep it.
 *
 * Forked (see child.ts) with `-r tools/sim/register.cjs` as `upstream-process.ts <name> [port]`; it reports
 * `{ type: 'ready', port }` once it listens. A `stats` message is answered with its open
 * connections and request counts; `stop` closes it.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import process from 'node:process';

import type { FaultMode, UpstreamMessage, UpstreamReport } from './protocol';

const name = process.argv[2] ?? 'upstream';
const port = Number(process.argv[3] ?? 0);
const DELAY_MS = Number(process.env.UPSTREAM_DELAY_MS ?? 50);
const SLOW_FACTOR = 5;
const PADDING = 'x'.repeat(1400);

let mode: FaultMode = 'normal';
let modeSince = Date.now();
let flapMs = 1_000;
let requests = 0;
let answered = 0;
const sockets = new Set<Socket>();
/** Requests a hung upstream holds: answered when it comes back, as a process that unfreezes. */
const held = new Set<() => void>();

function body(req: IncomingMessage, bytes: number): string {
  return JSON.stringify({ name, method: req.method, url: req.url, bodyBytes: bytes, padding: PADDING });
}

function answer(req: IncomingMessage, res: ServerResponse, bytes: number): void {
  if (res.destroyed) return;
  const status = mode === 'flap' && Math.floor((Date.now() - modeSince) / flapMs) % 2 === 0 ? 503 : 200;
  const text = body(req, bytes);
  const headers = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'x-upstream': name,
  };
  if (mode === 'reset') {
    res.writeHead(status, headers);
    // Half the body, then a reset: the client has a head that promised more.
    res.write(text.slice(0, text.length >> 1), () => setImmediate(() => res.socket?.resetAndDestroy()));
    return;
  }
  answered += 1;
  res.writeHead(status, headers).end(text);
  if (mode === 'close-early') {
    const socket = res.socket;
    res.once('finish', () => setTimeout(() => socket?.destroy(), Math.floor(Math.random() * 3)));
  }
}

const server = http.createServer((req, res) => {
  requests += 1;
  let bytes = 0;
  req.on('data', (chunk: Buffer) => (bytes += chunk.length));
  req.on('end', () => {
    if (req.url === '/health') {
      res.writeHead(mode === 'normal' ? 200 : 503).end();
      return;
    }
    if (mode === 'hang') {
      const release = () => answer(req, res, bytes);
      held.add(release);
      res.once('close', () => held.delete(release));
      return;
    }
    const delay = mode === 'slow' ? DELAY_MS * SLOW_FACTOR : DELAY_MS;
    const timer = setTimeout(answer, delay, req, res, bytes);
    res.once('close', () => clearTimeout(timer));
  });
});
server.keepAliveTimeout = 5_000;
server.on('connection', (socket: Socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});

function report(message: UpstreamReport): void {
  if (process.connected) process.send?.(message);
}

process.on('message', (message: UpstreamMessage) => {
  if (message.type === 'mode') {
    mode = message.mode;
    if (mode !== 'hang') {
      for (const release of held) release();
      held.clear();
    }
    modeSince = Date.now();
    if (message.flapMs !== undefined) flapMs = message.flapMs;
    report({ type: 'mode', mode });
  } else if (message.type === 'stats') {
    report({ type: 'stats', connections: sockets.size, requests, answered });
  } else if (message.type === 'stop') {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    for (const socket of sockets) socket.destroy();
  }
});
// The parent went away: nothing should outlive a run.
process.on('disconnect', () => process.exit(0));

server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => {
  report({ type: 'ready', port: (server.address() as AddressInfo).port });
});
