import net, { type AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { cleanup, gateway, inflight, listen, send } from './helpers';

afterEach(cleanup);

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

/** A raw upstream that writes `head` and then `body` for each request, and closes. */
async function rawUpstream(head: string, body: Buffer): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => {
      socket.write(head);
      socket.end(body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What a raw keep-alive client receives within `ms` (the socket is left open, as a browser's). */
function rawKeepAlive(port: number, request: string, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('error', reject);
    const done = () => {
      socket.destroy();
      resolve(answer);
    };
    socket.on('end', done);
    setTimeout(done, ms);
  });
}

describe('response framing', () => {
  it('answers 502 to a transfer coding sent as two field lines (gzip, then chunked), as to one', async () => {
    // RFC 9112 §6.1: `Transfer-Encoding: gzip` + `Transfer-Encoding: chunked` is the list
    // `gzip, chunked`. The single-line form is refused (proxy.test.ts); the two-line form must be too.
    const zipped = gzipSync('hello');
    const chunked = Buffer.concat([
      Buffer.from(`${zipped.length.toString(16)}\r\n`),
      zipped,
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const url = await rawUpstream(
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
      chunked,
    );
    const { url: gw, proxy } = await gateway({ instances: [url] }, { retries: 0 });
    const reply = await send(gw);
    // Was: 200, no Content-Encoding/Transfer-Encoding label, body = the raw gzip bytes.
    expect({ status: reply.status, gzipBytesAsBody: reply.body.equals(zipped) }).toEqual({
      status: 502,
      gzipBytesAsBody: false,
    });
    expect(inflight(proxy.balancer)).toBe(0);
  });

  it('answers 502 when onProxyResponse sets a 1xx status: the client must get a final response', async () => {
    // RFC 9110 §15.2: a 1xx is interim; the client keeps waiting for the final response,
    // which never comes. README: an edit that cannot be written is a 502.
    const upstream = await listen((_req, res) => res.end('ok'));
    for (const code of [100, 103]) {
      const { url } = await gateway(
        { instances: [upstream.url] },
        {
          onProxyResponse: (res) => {
            res.statusCode = code;
          },
        },
      );
      const answer = await rawKeepAlive(Number(new URL(url).port), 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 500);
      // Was: `HTTP/1.1 100 OK` / `HTTP/1.1 103 OK` (with content-length: 2, no body), then nothing.
      expect(answer.split('\r\n')[0]).toBe('HTTP/1.1 502 Bad Gateway');
    }
  });
});
