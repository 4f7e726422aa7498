/**
 * Hostile HTTP through the Express gateway, over raw sockets (node:net), so that nothing in a
 * client library tidies the bytes up: request smuggling (Content-Length and Transfer-Encoding in
 * conflict, duplicates, obfuscations), oversized and invalid headers, absolute-form targets,
 * foreign Host headers, Connection headers naming end-to-end headers, slow-loris clients, and
 * targets meant to turn path rewriting or hash keys into a way out of the pool.
 *
 * Each request must be forwarded to an instance of the pool, answered 4xx, or closed: never a
 * 5xx and never a crash (the gateway answers a normal request afterwards). A canary server that is
 * not in the pool, and whose address every attack names, must receive nothing.
 */
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { closeServer, listen, startUpstream, type Upstream } from '@ballast/testing';
import { balancer, type BalancerMiddleware } from '@ballast/express';
import express from 'express';

let a: Upstream;
let b: Upstream;
let canary: Upstream;
let mw: BalancerMiddleware;
let server: http.Server;
let port = 0;
let C = ''; // the canary's host:port

beforeAll(async () => {
  [a, b, canary] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('canary')]);
  C = new URL(canary.url).host;
  mw = balancer(
    { instances: [a.url, b.url], strategy: 'consistent-hash' },
    {
      healthCheck: false,
      // Both ways a request could try to steer itself: the hash key and the rewritten path.
      key: (req) => req.headers['x-user'] as string | undefined,
      pathRewrite: { '^/api': '' },
    },
  );
  const app = express().use(mw);
  // Slow-loris protection is the HTTP server's: a short header timeout, checked often.
  server = http.createServer(
    { headersTimeout: 1_000, requestTimeout: 3_000, connectionsCheckingInterval: 100 },
    app,
  );
  server.on('upgrade', mw.upgrade);
  port = Number(new URL(await listen(server)).port);
});

afterAll(async () => {
  await closeServer(server);
  await mw.close();
  await Promise.all([a.close(), b.close(), canary.close()]);
});

interface RawReply {
  /** Every status line in what came back (pipelining may bring several). */
  readonly statuses: number[];
  readonly text: string;
  /** Whether the gateway closed the connection. */
  readonly closed: boolean;
}

/**
 * Writes `chunks` on a fresh connection (`gapMs` apart), then reads until the gateway closes the
 * connection, or `idleMs` pass without data once some came (up to `firstByteMs` before any: a
 * busy machine may take a while to answer at all).
 */
function raw(
  chunks: readonly (string | Buffer)[],
  { gapMs = 0, idleMs = 400, firstByteMs = 5_000 } = {},
): Promise<RawReply> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (closed: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      socket.destroy();
      const text = Buffer.concat(received).toString('latin1');
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ statuses, text, closed });
    };
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), received.length > 0 ? idleMs : Math.max(idleMs, firstByteMs));
    };
    socket.on('data', (data: Buffer) => {
      received.push(data);
      arm();
    });
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      void (async () => {
        for (const chunk of chunks) {
          if (socket.destroyed) return;
          socket.write(chunk);
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
        arm();
      })();
    });
  });
}

const H = () => `Host: 127.0.0.1:${port}`;

/** name, request bytes; the same verdict applies to all. */
const ATTACKS: [string, () => string | Buffer][] = [
  [
    'CL and TE together (CL.TE smuggling)',
    () =>
      `POST /a HTTP/1.1\r\n${H()}\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: ${C}\r\n\r\n`,
  ],
  [
    'TE and CL together (TE.CL smuggling)',
    () =>
      `POST /a HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n`,
  ],
  [
    'two differing Content-Lengths',
    () => `POST /a HTTP/1.1\r\n${H()}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`,
  ],
  ['Content-Length list', () => `POST /a HTTP/1.1\r\n${H()}\r\nContent-Length: 5, 6\r\n\r\nhello!`],
  ['negative Content-Length', () => `POST /a HTTP/1.1\r\n${H()}\r\nContent-Length: -1\r\n\r\n`],
  [
    'huge Content-Length',
    () => `POST /a HTTP/1.1\r\n${H()}\r\nContent-Length: 99999999999999999999\r\n\r\nx`,
  ],
  [
    'obfuscated TE (xchunked)',
    () => `POST /a HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`,
  ],
  [
    'TE with a space before the colon',
    () => `POST /a HTTP/1.1\r\n${H()}\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n`,
  ],
  [
    'TE chunked then identity',
    () =>
      `POST /a HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`,
  ],
  [
    'bad chunk size',
    () => `POST /a HTTP/1.1\r\n${H()}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`,
  ],
  ['oversized header (20 KiB)', () => `GET /a HTTP/1.1\r\n${H()}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
  [
    'two thousand headers',
    () =>
      `GET /a HTTP/1.1\r\n${H()}\r\n${Array.from({ length: 2_000 }, (_, i) => `X-${i}: v`).join('\r\n')}\r\n\r\n`,
  ],
  ['request line of 100 KiB', () => `GET /${'a'.repeat(100_000)} HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['NUL in a header value', () => `GET /a HTTP/1.1\r\n${H()}\r\nX-Bad: a\0b\r\n\r\n`],
  ['bare CR in a header value', () => `GET /a HTTP/1.1\r\n${H()}\r\nX-Bad: a\rb\r\n\r\n`],
  ['bare LF line ending (header injection)', () => `GET /a HTTP/1.1\r\n${H()}\nX-Injected: 1\r\n\r\n`],
  ['space in a header name', () => `GET /a HTTP/1.1\r\n${H()}\r\nBad Name: x\r\n\r\n`],
  [
    'obs-text (latin-1) in a header value',
    () => Buffer.from(`GET /a HTTP/1.1\r\n${H()}\r\nX-Latin: caf\xe9\r\n\r\n`, 'latin1'),
  ],
  ['obsolete line folding', () => `GET /a HTTP/1.1\r\n${H()}\r\nX-Fold: a\r\n  b\r\n\r\n`],
  ['invalid method', () => `G@T /a HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['HTTP/0.9 request', () => `GET /a\r\n\r\n`],
  ['HTTP/2 preface on HTTP/1', () => `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`],
  ['HTTP/1.1 without Host', () => `GET /a HTTP/1.1\r\n\r\n`],
  ['absolute-form target naming the canary', () => `GET http://${C}/steal HTTP/1.1\r\nHost: ${C}\r\n\r\n`],
  ['absolute-form target with userinfo', () => `GET http://user:pw@${C}/steal HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['absolute-form https target', () => `GET https://${C}/steal HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['authority-form target (CONNECT to the canary)', () => `CONNECT ${C} HTTP/1.1\r\nHost: ${C}\r\n\r\n`],
  ['asterisk-form target', () => `OPTIONS * HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['Host naming the canary', () => `GET /x HTTP/1.1\r\nHost: ${C}\r\n\r\n`],
  ['Host with userinfo', () => `GET /x HTTP/1.1\r\nHost: evil@${C}\r\n\r\n`],
  ['Host with a path', () => `GET /x HTTP/1.1\r\nHost: ${C}/evil\r\n\r\n`],
  ['two Host headers', () => `GET /x HTTP/1.1\r\n${H()}\r\nHost: ${C}\r\n\r\n`],
  ['X-Forwarded-Host naming the canary', () => `GET /x HTTP/1.1\r\n${H()}\r\nX-Forwarded-Host: ${C}\r\n\r\n`],
  [
    'Connection naming end-to-end headers',
    () =>
      `POST /x HTTP/1.1\r\n${H()}\r\nConnection: keep-alive, content-length, host, authorization, x-user\r\nAuthorization: Basic eDp5\r\nX-User: u1\r\nContent-Length: 5\r\n\r\nhello`,
  ],
  [
    'Connection naming Transfer-Encoding on a chunked body',
    () =>
      `POST /x HTTP/1.1\r\n${H()}\r\nConnection: transfer-encoding\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
  ],
  [
    'Upgrade to something else',
    () => `GET /x HTTP/1.1\r\n${H()}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n`,
  ],
  ['path rewriting into userinfo', () => `GET /api@${C}/x HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['path rewriting into a network-path reference', () => `GET /api//${C}/x HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['path rewriting into an absolute URL', () => `GET /apihttp://${C}/x HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['encoded traversal', () => `GET /api/..%2f..%2f${C}/x HTTP/1.1\r\n${H()}\r\n\r\n`],
  ['hash key naming the canary', () => `GET /x HTTP/1.1\r\n${H()}\r\nX-User: http://${C}/\r\n\r\n`],
  [
    'fifty pipelined requests',
    () => Array.from({ length: 50 }, (_, i) => `GET /p/${i} HTTP/1.1\r\n${H()}\r\n\r\n`).join(''),
  ],
];

/** What each attack got, written to $RELIABILITY_REPORT_DIR/hostile-http.json for docs/reliability.md. */
const outcomes: Record<string, string> = {};

afterAll(() => {
  const dir = process.env.RELIABILITY_REPORT_DIR;
  if (dir !== undefined)
    writeFileSync(path.join(dir, 'hostile-http.json'), JSON.stringify(outcomes, null, 2));
});

describe('hostile HTTP through the Express gateway', () => {
  test.each(ATTACKS)('%s: forwarded to the pool, 4xx or closed; never a 5xx', async (name, bytes) => {
    const before = a.count() + b.count();
    const reply = await raw([bytes()]);
    outcomes[name] = reply.statuses.length > 0 ? reply.statuses.join(' ') : 'closed';
    for (const status of reply.statuses) expect(status).toBeLessThan(500);
    // What the gateway answered 2xx came from an instance of the pool (its echo names it).
    if (reply.statuses.some((s) => s < 300)) {
      expect(reply.text).toMatch(/x-upstream: (a|b)\r\n/i);
      expect(a.count() + b.count()).toBeGreaterThan(before);
    }
    // An answer, or the connection closed: never silence on an open connection.
    expect(reply.statuses.length > 0 || reply.closed).toBe(true);
    expect(canary.count()).toBe(0);
  });

  test('what is forwarded arrives framed and whole: no smuggled request reaches an instance', () => {
    const urls = [...a.received, ...b.received].map((r) => r.url);
    expect(urls.filter((u) => /smuggled|SMUGGLED/.test(u))).toEqual([]);
    // Absolute-form targets keep their path only, and rewritten paths stay paths.
    for (const url of urls) expect(url.startsWith('/')).toBe(true);
    // A Connection header naming Content-Length, Host or Transfer-Encoding does not unframe the body.
    const posts = [...a.received, ...b.received].filter((r) => r.method === 'POST' && r.url === '/x');
    expect(posts.map((r) => r.bodyBytes)).toEqual([5, 5]);
  });

  test('slow-loris clients are cut off by the server while others are served', async () => {
    const loris = Array.from({ length: 30 }, () =>
      raw([`GET /slow HTTP/1.1\r\n${H()}\r\n`, ...Array.from({ length: 40 }, (_, i) => `X-${i}: drip\r\n`)], {
        gapMs: 100,
        idleMs: 6_000,
      }),
    );
    // While they drip, a normal client is served.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const normal = await raw([`GET /normal HTTP/1.1\r\n${H()}\r\nConnection: close\r\n\r\n`]);
    expect(normal.statuses).toEqual([200]);
    const replies = await Promise.all(loris);
    for (const reply of replies) {
      expect(reply.closed).toBe(true);
      for (const status of reply.statuses) expect(status).toBe(408);
    }
    expect([...a.received, ...b.received].filter((r) => r.url === '/slow')).toEqual([]);
  }, 15_000);

  test('the gateway still serves normally afterwards, and the canary saw nothing', async () => {
    const reply = await raw([`GET /after HTTP/1.1\r\n${H()}\r\nConnection: close\r\n\r\n`]);
    expect(reply.statuses).toEqual([200]);
    expect(canary.received).toEqual([]);
  });
});
