import type { IncomingMessage, ServerResponse } from 'node:http';
import { BallastError } from '@ballast/core';
import { parsedBody, type ProxyHandler } from '@ballast/node';
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
 *   `req.body` (JSON; forms, flat or nested; a raw or text parser's Buffer or string), relabelled
 *   UTF-8 where they were decoded from another charset. Other bodies stream through untouched.
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
        // Answered as the handler answers a streamed request (onError, earlier cookies and Vary).
        this.proxy.withBody(req, res, body, next);
      }
    }
    Object.defineProperty(BallastProxy, 'name', { value: `BallastProxyMiddleware(${service})` });
    return BallastProxy;
  }
}

/**
 * The bytes to send for a body Nest's parser already read: `req.rawBody` when the application
 * keeps it, else rebuilt from `req.body` (see `parsedBody` in `@ballast/node`). Throws
 * `BALLAST_BODY_CONSUMED` rather than send a wrong body or hang.
 */
function consumedBody(req: NestRequest): Buffer {
  const bytes = parsedBody(req, req.body, req.rawBody);
  if (bytes !== undefined) return bytes;
  throw new BallastError(
    'BALLAST_BODY_CONSUMED',
    `Cannot proxy ${req.method} ${req.url}: the body (${req.headers['content-type'] ?? 'no content type'}) ` +
      'was read before BallastProxyMiddleware and cannot be re-sent. Create the app with { rawBody: true } ' +
      'or { bodyParser: false }.',
  );
}
