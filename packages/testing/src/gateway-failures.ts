import http from 'node:http';

import type { Logger } from '@ballast/core';

import { request } from './client';
import { createHarness, inflight, QUIET, type AdapterUnderTest, type GatewayMiddleware } from './harness';
import { waitFor } from './wait';

/**
 * What a client gets when a request cannot be served, through every proxying adapter: the status
 * (503, 502, 504) with a log line, and a connection that does not stall when the answer comes
 * before the client finished its upload. Part of `describeGateway`.
 */
export function describeGatewayFailures<M extends GatewayMiddleware>(
  label: string,
  adapter: AdapterUnderTest<M>,
): void {
  describe(`${label}: answers when a request cannot be served`, () => {
    const h = createHarness(adapter);
    afterEach(() => h.closeAll());

    /** The debug lines a request that could not be served leaves, by error code. */
    function errorLog(): { logger: Logger; codes: string[] } {
      const codes: string[] = [];
      const debug = (fields: object, msg?: string): void => {
        if (msg === 'ballast: proxy error') codes.push(String((fields as { code?: unknown }).code));
      };
      const none = (): void => undefined;
      return { logger: { debug, info: none, warn: none, error: none }, codes };
    }

    test('no instance at all: 503 with Retry-After, and a log line', async () => {
      const log = errorLog();
      const gw = await h.gateway({ instances: [] }, { ...QUIET, logger: log.logger });
      const res = await request(`${gw.url}/x`);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toMatch(/^\d+$/);
      expect(log.codes).toEqual(['BALLAST_NO_INSTANCE']);
    });

    test('upstream drops the connection: 502, and a log line', async () => {
      const a = await h.upstream('a', { behaviour: (_req, res) => void res.socket?.destroy() });
      const log = errorLog();
      const gw = await h.gateway({ instances: [a.url] }, { ...QUIET, retries: 0, logger: log.logger });
      const res = await request(`${gw.url}/x`);
      expect(res.status).toBe(502);
      expect(log.codes).toEqual(['BALLAST_UPSTREAM_ERROR']);
    });

    test('upstream too slow: 504, and a log line', async () => {
      const a = await h.upstream('a', { behaviour: () => undefined });
      const log = errorLog();
      const gw = await h.gateway(
        { instances: [a.url] },
        { ...QUIET, retries: 0, timeoutMs: 200, logger: log.logger },
      );
      const started = Date.now();
      const res = await request(`${gw.url}/x`);
      expect(res.status).toBe(504);
      expect(Date.now() - started).toBeLessThan(3_000);
      expect(log.codes).toEqual(['BALLAST_UPSTREAM_TIMEOUT']);
    });

    test('the connection closes after an answer to a client that is still uploading', async () => {
      // The upstream answers at once and hangs up without reading a large upload. Node reads no
      // more of a request whose response has ended: kept alive, the upload and the connection
      // stalled until the server's keep-alive timeout (a minute here).
      const a = await h.upstream('a', {
        behaviour: (_req, res) => {
          res.writeHead(413, { 'content-length': '3', connection: 'close' });
          res.end('big');
        },
      });
      const gw = await h.gateway({ instances: [a.url] }, QUIET);
      gw.server.keepAliveTimeout = 60_000;
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const req = http.request(`${gw.url}/upload`, {
          method: 'POST',
          agent,
          headers: { 'content-length': String(16 * 1024 * 1024) },
        });
        req.on('error', () => {}); // the upload is cut short: that is the point
        const chunk = Buffer.alloc(64 * 1024, 1);
        let sent = 0;
        const write = (): void => {
          while (sent < 256 && !req.destroyed) {
            sent += 1;
            if (!req.write(chunk)) return void req.once('drain', write);
          }
          req.end();
        };
        write();
        const res = await new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
        res.resume();
        expect(res.statusCode).toBeGreaterThanOrEqual(400);
        expect(res.headers.connection).toBe('close');
        const socket = req.socket!;
        await waitFor(() => socket.destroyed, {
          timeoutMs: 10_000,
          message: 'the gateway to close the connection',
        });
        expect(inflight(gw.middleware.balancer)).toBe(0);
      } finally {
        agent.destroy();
      }
    });
  });
}
