import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, type Duplex } from 'node:stream';
import {
  createBalancer,
  InvalidConfigError,
  type Balancer,
  type BalancerEvents,
  type BalancerOptions,
} from '@ballast/core';
import type { Engine } from './attempt';
import { acquireDiagnostics } from './diagnostics';
import { ejectClosingEarly } from './early-close';
import { ProxyError } from './errors';
import { hasBody } from './headers';
import { HealthChecker } from './health-check';
import { parseProxyOptions, type ProxyConfig } from './options';
import { Pools } from './pools';
import { answerError, ForwardExchange, ResponseExchange, respondError } from './respond';
import { RetryBudget } from './retry-budget';
import { isBalancer } from './target';
import type { ForwardOptions, ForwardResponse, ProxyHandler, ProxyOptions } from './types';
import { UpgradeExchange, writeError, writeStatus } from './upgrade';

const EMPTY = Buffer.alloc(0);
const perf = performance;

/**
 * Creates a balancing reverse proxy: a `(req, res, next?)` handler for `node:http` (and Express
 * or Connect) that forwards each request to an instance the balancer picks, through a keep-alive
 * undici pool per instance, streaming both bodies; retries on another instance when it is safe;
 * answers 502, 503 or 504 itself when it cannot get a response. `balancerOrOptions` is an
 * existing Balancer or the options to create one (then `close()` closes it too). Throws core's
 * `InvalidConfigError` naming the field (`proxy.timeoutMs`, `instances[0].url`) on bad options.
 *
 * @example
 * import http from 'node:http';
 * import { createProxy } from '@ballast/node';
 *
 * const proxy = createProxy({ instances: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] });
 * const server = http.createServer(proxy);
 * server.on('upgrade', proxy.upgrade);
 * server.listen(8080);
 */
export function createProxy(
  balancerOrOptions: Balancer | BalancerOptions,
  proxyOptions?: ProxyOptions,
): ProxyHandler {
  const owned = !isBalancer(balancerOrOptions);
  const balancer = owned
    ? createBalancer(balancerOrOptions as BalancerOptions)
    : (balancerOrOptions as Balancer);
  let config: ProxyConfig;
  try {
    config = parseProxyOptions(
      proxyOptions,
      owned ? (balancerOrOptions as BalancerOptions).logger : undefined,
    );
  } catch (error) {
    if (owned) balancer.close();
    throw error;
  }
  const pools = new Pools(config, (origin) => ejectClosingEarly(balancer, origin, config.logger));
  const budget =
    config.retryBudget === false
      ? undefined
      : new RetryBudget(config.retryBudget.ratio, config.retryBudget.minRetriesPerSecond, () => perf.now());
  const diagnostics = acquireDiagnostics(balancer);
  const tunnels = new Set<() => void>();
  const engine: Engine = { balancer, config, pools, budget, logger: config.logger, diagnostics, tunnels };
  const onRemoved = (event: BalancerEvents['instance-removed']): void => pools.remove(event.instance.url);
  balancer.on('instance-removed', onRemoved);
  const checker =
    config.healthCheck === false
      ? undefined
      : new HealthChecker(balancer, pools, config.healthCheck, config.logger);
  let closing: Promise<void> | undefined;

  const proxy = function ballastProxy(
    req: IncomingMessage,
    res: ServerResponse,
    next?: (err?: unknown) => void,
  ): void {
    handle(req, res, undefined, next);
  };

  const withBody = function ballastProxyWithBody(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | string,
    next?: (err?: unknown) => void,
  ): void {
    if (typeof body !== 'string' && !Buffer.isBuffer(body)) {
      const error = new InvalidConfigError('withBody.body', body, 'expected a Buffer or a string');
      if (typeof next === 'function') next(error);
      else throw error;
      return;
    }
    handle(req, res, body, next);
  };

  function handle(
    req: IncomingMessage,
    res: ServerResponse,
    body: Buffer | string | undefined,
    next: ((err?: unknown) => void) | undefined,
  ): void {
    try {
      new ResponseExchange(engine, req, res, body).start();
    } catch (error) {
      // Only a bug gets here: upstream failures are answered by the exchange itself.
      if (typeof next === 'function') {
        next(error);
        return;
      }
      config.logger.error({ service: balancer.service, error }, 'ballast: proxy failure');
      respondError(new ProxyError('BALLAST_UPSTREAM_ERROR', 'Proxy failure', { cause: error }), res);
    }
  }

  const upgrade = function ballastUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // A client that left before the socket got here (an async step in the 'upgrade' listener, an
    // auth check, ran first) already emitted its 'close' or 'end', which the exchange waits for:
    // it would hold a lease until the instance answered, and blame it for a `timeoutMs` it ran
    // out waiting for nobody.
    if (socket.destroyed || socket.readableEnded) {
      socket.destroy();
      return;
    }
    // Node hands the bytes after an upgrade request's head over in `head`, never through `req`:
    // a body would reach the upstream as the new protocol's first bytes, not as the request's.
    if (hasBody(req)) {
      config.logger.info(
        { service: balancer.service, method: req.method, url: req.url },
        'ballast: upgrade request with a body refused (400)',
      );
      writeStatus(socket, 400, config.idleTimeoutMs);
      return;
    }
    try {
      new UpgradeExchange(engine, req, socket, head ?? EMPTY).start();
    } catch (error) {
      config.logger.error({ service: balancer.service, error }, 'ballast: upgrade failure');
      writeError(
        socket,
        new ProxyError('BALLAST_UPSTREAM_ERROR', 'Proxy failure', { cause: error }),
        config.idleTimeoutMs,
      );
    }
  };

  function forward(
    req: IncomingMessage,
    options?: ForwardOptions,
  ): Promise<ForwardResponse<Readable | Buffer>> {
    return new Promise((resolve, reject) => {
      const body = options?.body;
      if (
        body !== undefined &&
        typeof body !== 'string' &&
        !Buffer.isBuffer(body) &&
        !(body instanceof Readable)
      ) {
        reject(new InvalidConfigError('forward.body', body, 'expected a Buffer, a string or a Readable'));
        return;
      }
      new ForwardExchange(engine, req, body, options, resolve, reject).start();
    });
  }

  function close(): Promise<void> {
    closing ??= (async () => {
      const connecting = checker?.close();
      balancer.off('instance-removed', onRemoved);
      diagnostics.release();
      await pools.close(connecting);
      // Upgraded sockets left their pools: undici neither waits for them nor closes them.
      for (const closeTunnel of tunnels) closeTunnel();
      if (owned) balancer.close();
    })();
    return closing;
  }

  return Object.defineProperties(proxy, {
    balancer: { value: balancer, enumerable: true },
    upgrade: { value: upgrade, enumerable: true },
    forward: { value: forward, enumerable: true },
    withBody: { value: withBody, enumerable: true },
    respondError: { value: respondError, enumerable: true },
    answerError: {
      value: (err: ProxyError, req: IncomingMessage, res: ServerResponse) =>
        answerError(engine, err, req, res),
      enumerable: true,
    },
    close: { value: close, enumerable: true },
  }) as ProxyHandler;
}
