import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream';
import { BallastError } from '@ballast/core';
import { ProxyError, type ProxyHandler } from '@ballast/node';
import { Inject, Injectable, type NestMiddleware, type Type } from '@nestjs/common';

import { BallastService } from './ballast-service';
import type { ProxyMiddlewareOptions } from './types';

/** The request as Nest's HTTP platforms hand it to middleware (Express and Fastify's middie). */
type NestRequest = IncomingMessage & { originalUrl?: string; body?: unknown; rawBody?: unknown };

/**
 * Proxying routes: `BallastProxyMiddleware.for(service)` is a Nest middleware class that forwards
 * each request it sees to an instance of the service, through `@ballast/node`'s proxy (retries,
 * timeouts, `X-Forwarded-*`, 502/503/504 when it cannot get a response, health checks).
 *
 * - The upstream sees the request's full path (`req.originalUrl`, not the path Express leaves
 *   after the route prefix) unless `pathRewrite` is given.
 * - A JSON or urlencoded body that Nest's body parser already read is re-sent: the exact bytes
 *   with `NestFactory.create(AppModule, { rawBody: true })`, otherwise re-serialized from
 *   `req.body`. Other bodies stream through untouched.
 *
 * @example
 * ```ts
 * @Module({ imports: [BallastModule.forRoot({ services: { users: { instances } } })] })
 * export class AppModule implements NestModule {
 *   configure(consumer: MiddlewareConsumer) {
 *     consumer.apply(BallastProxyMiddleware.for('users')).forRoutes('users');
 *   }
 * }
 * ```
 */
export class BallastProxyMiddleware {
  private constructor() {}

  /** A middleware class forwarding to `service`; `options` give it its own proxy on the same balancer. */
  static for(service: string, options?: ProxyMiddlewareOptions): Type<NestMiddleware> {
    @Injectable()
    class BallastProxy implements NestMiddleware {
      private readonly proxy: ProxyHandler;

      constructor(@Inject(BallastService) ballast: BallastService) {
        this.proxy =
          options?.pathRewrite === undefined
            ? ballast.proxy(service)
            : ballast.proxy(service, { pathRewrite: options.pathRewrite });
      }

      use(req: NestRequest, res: ServerResponse, next: (error?: unknown) => void): void {
        // Express strips the route prefix from req.url; the upstream gets the whole path.
        if (req.originalUrl !== undefined) req.url = req.originalUrl;
        if (!req.readableEnded) return this.proxy(req, res, next);
        let body: Buffer;
        try {
          body = consumedBody(req);
        } catch (error) {
          return next(error);
        }
        forwardConsumed(this.proxy, req, res, body, next);
      }
    }
    Object.defineProperty(BallastProxy, 'name', { value: `BallastProxyMiddleware(${service})` });
    return BallastProxy;
  }
}

/** Forwards a request whose body was already read, and writes the response. */
function forwardConsumed(
  proxy: ProxyHandler,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  next: (error?: unknown) => void,
): void {
  proxy.forward(req, { body, response: res }).then(
    (upstream) => {
      res.writeHead(upstream.statusCode, upstream.headers);
      pipeline(upstream.body, res, () => undefined); // the proxy records failures on the lease
    },
    (error: unknown) => {
      if (res.destroyed && !res.writableFinished) return; // the client went away
      if (error instanceof ProxyError) proxy.respondError(error, res);
      else next(error);
    },
  );
}

/**
 * The bytes to send for a body Nest's parser already read: `req.rawBody` when the application
 * keeps it, else JSON or a flat form rebuilt from `req.body`. Throws `BALLAST_BODY_CONSUMED`
 * rather than send a wrong body or hang.
 */
function consumedBody(req: NestRequest): Buffer {
  const announced =
    req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
  const type = req.headers['content-type'] ?? '';
  let bytes: Buffer | undefined;
  if (!announced) bytes = Buffer.alloc(0);
  else if (Buffer.isBuffer(req.rawBody)) bytes = req.rawBody;
  else if (/[/+]json\b/i.test(type) && req.body !== undefined) bytes = Buffer.from(JSON.stringify(req.body));
  else if (/urlencoded/i.test(type) && isFlatForm(req.body)) {
    bytes = Buffer.from(new URLSearchParams(Object.entries(req.body).flatMap(formPairs)).toString());
  }
  if (bytes === undefined) {
    throw new BallastError(
      'BALLAST_BODY_CONSUMED',
      `Cannot proxy ${req.method} ${req.url}: the body (${type || 'no content type'}) was read before ` +
        'BallastProxyMiddleware and cannot be re-sent. Create the app with { rawBody: true } or { bodyParser: false }.',
    );
  }
  // The proxy sends the length of these bytes; the parser has already decoded any content coding.
  delete req.headers['content-encoding'];
  return bytes;
}

const formPairs = ([key, value]: [string, string | string[]]): Array<[string, string]> =>
  typeof value === 'string' ? [[key, value]] : value.map((item): [string, string] => [key, item]);

function isFlatForm(body: unknown): body is Record<string, string | string[]> {
  return (
    typeof body === 'object' &&
    body !== null &&
    Object.values(body).every(
      (v) => typeof v === 'string' || (Array.isArray(v) && v.every((item) => typeof item === 'string')),
    )
  );
}
