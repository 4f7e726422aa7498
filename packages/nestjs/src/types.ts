import type { IncomingMessage } from 'node:http';
import type { BalancerOptions, Logger } from '@ballast/core';
import type { HealthCheckOptions, ProxyOptions } from '@ballast/node';
import type { WithBalancerOptions } from '@ballast/axios';
import type { CreateAxiosDefaults } from 'axios';

/**
 * One upstream service of `BallastModule`: the options of `createBalancer` (its `service` name
 * defaults to the key in `services`; `discovery` takes a source such as `dnsDiscovery()` from
 * `@ballast/node` or `etcdDiscovery()` from `@ballast/etcd`, stopped when the balancer closes on
 * shutdown), plus what the module builds around the balancer.
 */
export interface ServiceConfig extends BalancerOptions {
  /**
   * Active health checks for the service (`@ballast/node`), running from application start
   * until shutdown, or `false` (the default).
   */
  readonly healthCheck?: HealthCheckOptions | false;
  /** Options of the proxy behind `BallastProxyMiddleware.for(service)` (retries, timeouts...). */
  readonly proxy?: Omit<ProxyOptions, 'healthCheck' | 'logger'>;
  /**
   * The balanced HTTP client of `@InjectBalancedHttp(service)`: `axios.create(config)` wired
   * through `@ballast/axios`'s `withBalancer(client, balancer, { retries, key })` (retries
   * default 1, on other instances; see @ballast/axios), logging with the service's logger. It is provided
   * whenever axios and @ballast/axios are installed; configuring `http` makes them required, so
   * that a missing one fails at startup with `BALLAST_MISSING_PEER`.
   */
  readonly http?: Omit<WithBalancerOptions, 'logger'> & { readonly config?: CreateAxiosDefaults };
}

/** Options of `BallastModule.forRoot()` and of the factory of `forRootAsync()`. */
export interface BallastModuleOptions {
  /** Upstream services by name, the name `@InjectBalancer(name)` and `BallastService.get(name)` use. */
  readonly services: Readonly<Record<string, ServiceConfig>>;
  /**
   * Where Ballast logs: a pino-compatible logger, `false` for silence, or by default Nest's own
   * `Logger` with the context `Ballast` (see `nestLogger()`), so it follows the application's
   * logger and log levels. A service's own `logger` wins over this one.
   */
  readonly logger?: Logger | false;
  /**
   * The live status page of every service (`@ballast/node`'s `createStatusHandler`), served by
   * the module at `path` (default `/ballast`: the page at `/ballast/`, its data at
   * `/ballast/snapshot.json`); `true` for the defaults. Off by default: nothing is served unless
   * asked for. Set `token` wherever the app is reachable by others.
   */
  readonly statusPage?: boolean | StatusPageOptions;
}

/** The `statusPage` module option. */
export interface StatusPageOptions {
  /** Where the page is mounted. Default `/ballast`. */
  readonly path?: string;
  /** Required on every request when set: `Authorization: Bearer <token>` or `?token=`. */
  readonly token?: string;
  /** Show instance metadata on the page. Default false. */
  readonly exposeMetadata?: boolean;
}

/** Options of one `BallastProxyMiddleware.for(service, options)`. */
export interface ProxyMiddlewareOptions {
  /**
   * Rewrites the path (with query) sent upstream, which is otherwise the request's full path
   * (`req.originalUrl`): a function, or regular-expression sources to replacements as in
   * http-proxy-middleware (`{ '^/users': '' }`).
   */
  readonly pathRewrite?: ((path: string, req: IncomingMessage) => string) | Readonly<Record<string, string>>;
}

/** Health of one service as the terminus indicator reports it. */
export interface ServiceHealth {
  /** `up` while at least one instance is healthy (or in slow start). */
  readonly status: 'up' | 'down';
  /** Instances that take requests on their own merit: healthy or in slow start. */
  readonly healthy: number;
  /** Instances ejected as outliers. */
  readonly ejected: number;
  /** Instances configured (not counting those draining). */
  readonly total: number;
  /** Whether the balancer is in panic mode, spreading over all instances. */
  readonly panic: boolean;
}

/**
 * What `BallastHealthIndicator.isHealthy(key)` resolves with: a `@nestjs/terminus`
 * `HealthIndicatorResult`, `{ [key]: { status, services: { [name]: ServiceHealth } } }`.
 */
export type BallastHealthResult<Key extends string = string> = Record<
  Key,
  { status: 'up' | 'down'; services: Record<string, ServiceHealth> }
>;
