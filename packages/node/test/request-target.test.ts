import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { cleanup, gateway, listen, send } from './helpers';

afterEach(cleanup);

const servers: net.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(() => r(undefined)));
});

/** One raw request over a fresh connection; the whole answer as latin1 (bytes kept). */
function raw(port: number, request: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}
const bodyOf = (answer: string) => answer.slice(answer.indexOf('\r\n\r\n') + 4);

/** An upstream that answers the request it saw: url and raw header lines (values as latin1). */
const echo = () =>
  listen((req, res) => res.end(Buffer.from(JSON.stringify({ url: req.url, raw: req.rawHeaders }), 'latin1')));
const seen = (answer: string) => {
  const parsed = JSON.parse(bodyOf(answer)) as { url: string; raw: string[] };
  const headers: Record<string, string> = {};
  for (let i = 0; i < parsed.raw.length; i += 2) headers[parsed.raw[i]!.toLowerCase()] = parsed.raw[i + 1]!;
  return { url: parsed.url, headers };
};

/** A raw upstream writing `answer` for every request. */
async function rawUpstream(answer: string): Promise<string> {
  const server = net.createServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end(Buffer.from(answer, 'latin1')));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('request target', () => {
  it('sends the target as received under an encoded base path: no decoding, no normalising, query kept', async () => {
    const upstream = await echo();
    const { url } = await gateway({ instances: [`${upstream.url}/a%2Fb/c%20d/`] });
    const port = Number(new URL(url).port);
    const target = '/x%2Fy/../z//w/%20+%2B?q=a+b%20c&r=%2F';
    const answer = await raw(port, `GET ${target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
    expect(seen(answer).url).toBe(`/a%2Fb/c%20d${target}`);
  });

  it('keeps a rewrite to an absolute URL on the picked instance (its origin is dropped)', async () => {
    const upstream = await echo();
    const { url } = await gateway(
      { instances: [`${upstream.url}/base`] },
      { pathRewrite: () => 'http://evil.example/z?k=1' },
    );
    const reply = await send(url, { path: '/x' });
    expect(reply.status).toBe(200);
    expect(seen(`\r\n\r\n${reply.text}`).url).toBe('/base/z?k=1');
  });

  it('HTTP/1.0 without Host: Host is the instance, X-Forwarded-Proto set, no X-Forwarded-Host; absolute-form gives both', async () => {
    const upstream = await echo();
    const { url } = await gateway({ instances: [upstream.url] });
    const port = Number(new URL(url).port);
    const bare = seen(await raw(port, 'GET /x HTTP/1.0\r\n\r\n')).headers;
    expect(bare.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(bare['x-forwarded-proto']).toBe('http');
    expect(bare['x-forwarded-host']).toBeUndefined();
    const absolute = seen(await raw(port, 'GET http://abs.example/x HTTP/1.0\r\n\r\n')).headers;
    expect([absolute.host, absolute['x-forwarded-host']]).toEqual(['abs.example', 'abs.example']);
  });

  it('an IPv6 instance with changeOrigin gets a bracketed Host and its base path', async () => {
    const upstream = http.createServer((req, res) => res.end(JSON.stringify([req.headers.host, req.url])));
    await new Promise<void>((r) => upstream.listen(0, '::1', r));
    const port = (upstream.address() as AddressInfo).port;
    try {
      const { url } = await gateway({ instances: [`http://[::1]:${port}/api`] }, { changeOrigin: true });
      const reply = await send(url, { path: '/x?y=1', headers: { host: 'public.example' } });
      expect(JSON.parse(reply.text)).toEqual([`[::1]:${port}`, '/api/x?y=1']);
    } finally {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    }
  });
});

describe('headers', () => {
  it('removes every header named in Connection, over several Connection field lines, both ways', async () => {
    const upstream = await listen((req, res) => {
      const body = JSON.stringify(req.headers);
      res.writeHead(200, [
        ['Content-Length', String(Buffer.byteLength(body))],
        ['Connection', 'X-A'],
        ['Connection', 'X-B, keep-alive'],
        ['X-A', '1'],
        ['X-B', '2'],
        ['X-C', '3'],
      ] as never);
      res.end(body);
    });
    const { url } = await gateway({ instances: [upstream.url] });
    const answer = await raw(
      Number(new URL(url).port),
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Custom\r\nConnection: X-Other\r\n' +
        'X-Custom: 1\r\nX-OTHER: 2\r\nx-keep: 3\r\nTE: trailers\r\n\r\n',
    );
    const forwarded = JSON.parse(bodyOf(answer)) as Record<string, string>;
    expect([forwarded['x-custom'], forwarded['x-other'], forwarded.te]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    expect(forwarded['x-keep']).toBe('3');
    const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).not.toMatch(/\r\nx-a:|\r\nx-b:/);
    expect(head).toMatch(/\r\nx-c: 3/);
  });

  it('relays non-ASCII (obs-text) header values byte for byte, both ways', async () => {
    const upstream = await echo();
    const { url } = await gateway({ instances: [upstream.url] });
    const request = Buffer.from(
      'GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xe9 \xc3\xa9\r\nConnection: close\r\n\r\n',
      'latin1',
    );
    expect(seen(await raw(Number(new URL(url).port), request)).headers['x-name']).toBe('caf\xe9 \xc3\xa9');

    const bytes = 'caf\xe9 \xe2\x82\xac';
    const rawUp = await rawUpstream(`HTTP/1.1 200 OK\r\nX-Name: ${bytes}\r\nContent-Length: 2\r\n\r\nok`);
    const g = await gateway({ instances: [rawUp] });
    const answer = await raw(
      Number(new URL(g.url).port),
      'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
    );
    expect(answer).toContain(`\r\nx-name: ${bytes}\r\n`);
  });

  it("keeps the upstream's Set-Cookie lines separate (a comma in Expires is no separator)", async () => {
    const rawUp = await rawUpstream(
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\nSet-Cookie: b=2\r\n' +
        'Content-Length: 2\r\n\r\nok',
    );
    const { url } = await gateway({ instances: [rawUp] });
    const reply = await send(url);
    expect(reply.headers['set-cookie']).toEqual(['a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT', 'b=2']);
  });

  it('answers 502 to a response with both Content-Length and Transfer-Encoding (RFC 9112 §6.3)', async () => {
    const rawUp = await rawUpstream(
      'HTTP/1.1 200 OK\r\nContent-Length: 50\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    );
    const { url } = await gateway({ instances: [rawUp] }, { retries: 0 });
    const reply = await send(url);
    expect(reply.status).toBe(502);
  });
});
