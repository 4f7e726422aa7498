/**
 * Whose X-Forwarded-Proto and X-Forwarded-Host the upstream hears is Express's own `trust proxy`
 * decision, as for `req.protocol` and `req.host`: by default (trust no one) the client's claims
 * are replaced with what this hop saw; a trusted peer's stand; the `trustForwarded` option
 * overrides both. X-Forwarded-For is appended to in every case.
 */
import http from 'node:http';

import { closeServer, createHarness, listen, QUIET, request } from '@ballast/testing';
import express, { type Express } from 'express';

import { balancer, BallastError, type BalancerMiddleware } from '../src';

const CLAIMS = {
  'x-forwarded-host': 'evil.example',
  'x-forwarded-proto': 'https',
  'x-forwarded-for': '203.0.113.7',
};

interface Seen {
  readonly upstream: { host?: string; proto?: string; for?: string };
  readonly express: { host: string; protocol: string };
}

/** An Express app whose requests record in `decided` what Express made of them, then reach `mw`. */
async function serve(
  mw: BalancerMiddleware,
  setup: (app: Express) => void = () => undefined,
  decided: Array<Seen['express']> = [],
) {
  const app = express();
  setup(app);
  app.use((req, _res, next) => {
    decided.push({ host: req.host, protocol: req.protocol });
    next();
  });
  app.use(mw);
  const server = http.createServer(app);
  server.on('upgrade', mw.upgrade);
  const url = await listen(server);
  return { url, server, close: () => closeServer(server) };
}

describe('X-Forwarded-Proto and -Host follow Express trust proxy', () => {
  const h = createHarness({ balancer, serve: (mw) => serve(mw) });
  afterEach(() => h.closeAll());

  /** One request with the client's claims through `mw`, mounted by `setup`: what each side saw. */
  async function claim(mw: BalancerMiddleware, setup?: (app: Express) => void, body?: string): Promise<Seen> {
    const decided: Array<Seen['express']> = [];
    const gw = await h.serve(mw, (m) => serve(m, setup, decided));
    const res = await request(`${gw.url}/who`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? CLAIMS : { ...CLAIMS, 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    const upstream = res.json<{ headers: http.IncomingHttpHeaders }>().headers;
    return {
      upstream: {
        host: upstream['x-forwarded-host'] as string | undefined,
        proto: upstream['x-forwarded-proto'] as string | undefined,
        for: upstream['x-forwarded-for'] as string | undefined,
      },
      express: decided.at(-1)!,
    };
  }

  test("by default (Express trusts no proxy) the client's claims are replaced with this hop's", async () => {
    const [up] = await h.upstreams(1);
    const seen = await claim(balancer({ instances: [up!.url] }, QUIET));
    const host = seen.express.host;
    expect(seen.express).toEqual({ host: expect.stringMatching(/^127\.0\.0\.1:\d+$/), protocol: 'http' });
    expect(seen.upstream).toEqual({ host, proto: 'http', for: '203.0.113.7, 127.0.0.1' });
  });

  test("with trust proxy covering the peer, the claims stand, as Express's req.protocol and req.host do", async () => {
    const [up] = await h.upstreams(1);
    const seen = await claim(balancer({ instances: [up!.url] }, QUIET), (app) =>
      app.set('trust proxy', 'loopback'),
    );
    expect(seen.express).toEqual({ host: 'evil.example', protocol: 'https' });
    expect(seen.upstream).toEqual({ host: 'evil.example', proto: 'https', for: '203.0.113.7, 127.0.0.1' });
  });

  test('trust proxy naming another address does not trust this peer', async () => {
    const [up] = await h.upstreams(1);
    const seen = await claim(balancer({ instances: [up!.url] }, QUIET), (app) =>
      app.set('trust proxy', '10.0.0.1'),
    );
    expect(seen.upstream.proto).toBe('http');
    expect(seen.upstream.host).toBe(seen.express.host);
  });

  test('a body a parser already read is re-sent under the same rule', async () => {
    const [up] = await h.upstreams(1);
    const mw = balancer({ instances: [up!.url] }, QUIET);
    const untrusted = await claim(mw, (app) => app.use(express.json()), '{"a":1}');
    expect(untrusted.upstream.proto).toBe('http');
    const trusting = balancer({ instances: [up!.url] }, QUIET);
    const trusted = await claim(
      trusting,
      (app) => {
        app.set('trust proxy', true);
        app.use(express.json());
      },
      '{"a":1}',
    );
    expect(trusted.upstream).toEqual({ host: 'evil.example', proto: 'https', for: '203.0.113.7, 127.0.0.1' });
  });

  test('the trustForwarded option overrides the app setting', async () => {
    const [up] = await h.upstreams(1);
    const trusting = await claim(balancer({ instances: [up!.url] }, { ...QUIET, trustForwarded: true }));
    expect(trusting.upstream.proto).toBe('https');
    const asked: string[] = [];
    const byHeader = balancer(
      { instances: [up!.url] },
      { ...QUIET, trustForwarded: (req) => (asked.push(req.url ?? ''), req.headers['x-edge'] === 'yes') },
    );
    const refused = await claim(byHeader, (app) => app.set('trust proxy', true));
    expect(refused.upstream.proto).toBe('http');
    expect(asked).toEqual(['/who']);
  });

  test('an upgrade, which never passes through Express, is not trusted unless the option says so', async () => {
    const seen: Array<string | string[] | undefined> = [];
    const up = http.createServer((_req, res) => res.end());
    up.on('upgrade', (req, socket) => {
      seen.push(req.headers['x-forwarded-proto']);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    const upUrl = await listen(up);
    try {
      for (const trustForwarded of [undefined, true]) {
        const gw = await h.serve(balancer({ instances: [upUrl] }, { ...QUIET, trustForwarded }), (m) =>
          serve(m, (app) => app.set('trust proxy', true)),
        );
        const status = await new Promise<number | undefined>((resolve, reject) => {
          const req = http.request(`${gw.url}/ws`, {
            headers: { connection: 'upgrade', upgrade: 'websocket', 'x-forwarded-proto': 'https' },
          });
          req.on('upgrade', (res, socket) => {
            socket.destroy();
            resolve(res.statusCode);
          });
          req.on('response', (res) => resolve(res.statusCode));
          req.on('error', reject);
          req.end();
        });
        expect(status).toBe(101);
      }
      expect(seen).toEqual(['http', 'https']);
    } finally {
      up.closeAllConnections();
      await closeServer(up);
    }
  });

  test('an invalid trustForwarded throws a BallastError naming it', () => {
    expect(() => balancer({ instances: ['http://127.0.0.1:1'] }, { trustForwarded: 'yes' as never })).toThrow(
      expect.objectContaining({
        code: 'BALLAST_INVALID_CONFIG',
        message: expect.stringContaining('proxy.trustForwarded'),
      }),
    );
    expect(() => balancer({ instances: ['http://127.0.0.1:1'] }, { trustForwarded: 1 as never })).toThrow(
      BallastError,
    );
  });
});
