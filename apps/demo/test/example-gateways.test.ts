// What every example gateway (Express, Koa, Nest) owes its users alike: the same routes for
// WebSockets as for HTTP, paths and bodies that are the upstream's business, not the framework's.
import net from 'node:net';

import {
  request,
  sha256,
  startUpstreams,
  webSocketEcho,
  type EchoBody,
  type Upstream,
} from '@ballast/testing';

import type { RunningGateway } from '../../upstream/src';
import { startGateway as express } from '../../express-gateway/src/gateway';
import { startGateway as koa } from '../../koa-gateway/src/gateway';
import { startGateway as nest } from '../../nest-gateway/src/gateway';

let upstreams: Upstream[] = [];
let gateway: RunningGateway | undefined;

/** One gateway of `start` over a users and an orders upstream. */
async function serve(start: typeof express): Promise<RunningGateway> {
  upstreams = await startUpstreams(['u1', 'o1']);
  gateway = await start({ services: { users: [upstreams[0]!.url], orders: [upstreams[1]!.url] }, port: 0 });
  return gateway;
}
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await Promise.all(upstreams.map((u) => u.close()));
});

/** The first line a raw WebSocket handshake to `path` gets, or '' if the gateway just hangs up. */
function handshake(url: string, path: string): Promise<string> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to the handshake within 5 s: ${JSON.stringify(answer)}`));
    }, 5_000);
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(answer.split('\r\n')[0] ?? '');
    });
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    // A handshake that was accepted leaves the connection open: end it once it answered.
    socket.once('data', () => setTimeout(() => socket.end(), 100));
  });
}

describe.each([
  ['express', express],
  ['koa', koa],
  ['nest', nest],
])('the %s example gateway', (_name, startGateway) => {
  test('balances WebSockets under /<service>/ as it does HTTP, and no others', async () => {
    const gw = await serve(startGateway);
    const ws = gw.url.replace('http:', 'ws:');
    expect(await webSocketEcho(`${ws}/users/socket`, 'hi')).toBe('u1:hi');
    expect(await webSocketEcho(`${ws}/orders`, 'hi')).toBe('o1:hi');
    // HTTP GET /usersx is a 404; its WebSocket must not go to the users service either.
    expect(await handshake(gw.url, '/usersx')).not.toMatch(/^HTTP\/1\.1 101/);
    expect(upstreams[0]!.received.map((r) => r.url)).not.toContain('/usersx');
  }, 15_000);

  test('a path that does not percent-decode is the upstream’s business, not a 400 from the gateway', async () => {
    const gw = await serve(startGateway);
    // Express's final handler also printed the stack of each such 400 (outside tests): any
    // client could fill the gateway's log with them.
    expect((await request(`${gw.url}/users/%zz`)).json<EchoBody>()).toMatchObject({
      name: 'u1',
      url: '/users/%zz',
    });
    expect((await request(`${gw.url}/users`)).json<EchoBody>()).toMatchObject({ url: '/users' });
    expect((await request(`${gw.url}/orders/7?x=1`)).json<EchoBody>()).toMatchObject({
      name: 'o1',
      url: '/orders/7?x=1',
    });
    expect((await request(`${gw.url}/usersx`)).status).toBe(404);
  }, 15_000);

  test.each([
    [
      'a JSON body over body-parser’s 100 KB limit',
      'application/json',
      JSON.stringify({ a: 'x'.repeat(300_000) }),
    ],
    ['a urlencoded body over 100 KB', 'application/x-www-form-urlencoded', `a=${'x'.repeat(300_000)}`],
    ['a body that is not valid JSON', 'application/json', '{not json'],
  ])(
    '%s reaches the upstream byte for byte',
    async (_title, contentType, body) => {
      const gw = await serve(startGateway);
      const res = await request(`${gw.url}/users/1`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });
      expect(res.status).toBe(200);
      expect(res.json<EchoBody>()).toMatchObject({
        name: 'u1',
        url: '/users/1',
        bodyBytes: Buffer.byteLength(body),
        bodySha256: sha256(body),
      });
    },
    15_000,
  );
});
