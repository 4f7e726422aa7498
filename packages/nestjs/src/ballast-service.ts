import { createBalancer, InvalidConfigError, type Balancer, type Logger } from '@ballast/core';
import { createProxy, trustedByExpress, type ProxyHandler, type ProxyOptions } from '@ballast/node';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { AxiosInstance } from 'axios';

import { createBalancedHttp, type BalancedHttp } from './balanced-http';
import { MODULE_OPTIONS_TOKEN } from './module-definition';
import { inService, parseModuleOptions, unknownService, type ParsedService } from './service-config';
import { mountStatusPage, type MountedStatusPage } from './status-page';
import type { BallastModuleOptions, ServiceHealth } from './types';

/** Everything the module runs for one service. */
interface Entry {
  readonly service: ParsedService;
  readonly balancer: Balancer;
  /** Owns the active health checks and the connection pools of the proxy middleware. */
  readonly proxy: ProxyHandler;
  http?: BalancedHttp;
}

/**
 * The services of `BallastModule`, by name: their balancers, the proxies behind
 * `BallastProxyMiddleware` and the balanced HTTP clients. Created from the module options at
 * startup (health checks and discovery start then); on application shutdown it stops discovery
 * and health checks, closes connection pools (after requests in flight) and the balancers.
 * Injectable anywhere once `BallastModule.forRoot()` or `forRootAsync()` is imported.
 *
 * @example
 * ```ts
 * constructor(private readonly ballast: BallastService) {}
 * pickFor(name: string) { return this.ballast.get(name).pick(); }
 * ```
 */
@Injectable()
export class BallastService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  /** The live status page, when the `statusPage` option asks for it (`BallastModule` mounts it). */
  readonly statusPage: MountedStatusPage | undefined;
  private readonly entries = new Map<string, Entry>();
  /** Proxies of middleware with their own options, closed with the rest. */
  private readonly extraProxies: ProxyHandler[] = [];
  private readonly logger: Logger;
  private closing: Promise<void> | undefined;
  private bootstrapped = false;

  constructor(
    @Inject(MODULE_OPTIONS_TOKEN) options: BallastModuleOptions,
    @Inject(ModuleRef) private readonly moduleRef: ModuleRef,
  ) {
    const { logger, services } = parseModuleOptions(options);
    this.logger = logger;
    try {
      for (const service of services) {
        this.entries.set(service.name, start(service));
        // A service that asks for its client fails startup if axios or @ballast/axios is missing,
        // whether or not a provider is registered for it: forRootAsync's forFeature() registers
        // none when the peers cannot be resolved, and the first use would fail long after.
        if (service.config.http !== undefined) this.http(service.name);
      }
      this.statusPage = mountStatusPage(
        options.statusPage,
        [...this.entries.values()].map((entry) => entry.balancer),
        logger,
      );
    } catch (error) {
      // A bad service must not leave the health checks of the good ones running.
      void this.onApplicationShutdown();
      throw error;
    }
  }

  /** The names of the configured services, in configuration order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  /** The balancer of a service; throws `BALLAST_UNKNOWN_SERVICE` naming those that exist. */
  get(name: string): Balancer {
    return this.entry(name).balancer;
  }

  /**
   * The proxy of a service (what `BallastProxyMiddleware.for(name)` forwards through), or with
   * `options`, a new proxy on the same balancer whose options are the service's `proxy` ones
   * overridden by `options`; it is closed on shutdown too.
   */
  proxy(name: string, options?: Omit<ProxyOptions, 'healthCheck' | 'logger'>): ProxyHandler {
    const entry = this.entry(name);
    if (options === undefined) return entry.proxy;
    const { service } = entry;
    const proxy = inService(name, () =>
      createProxy(entry.balancer, {
        ...service.config.proxy,
        trustForwarded: service.config.proxy?.trustForwarded ?? trustedByExpress,
        ...options,
        logger: service.logger,
      }),
    );
    this.extraProxies.push(proxy);
    return proxy;
  }

  /**
   * The balanced axios instance of a service, created on first use: `axios.create()` wired
   * through `@ballast/axios`. Throws `BALLAST_MISSING_PEER` if axios or @ballast/axios is not
   * installed.
   */
  http(name: string): AxiosInstance {
    const entry = this.entry(name);
    entry.http ??= createBalancedHttp(entry.balancer, entry.service.config.http, entry.service.logger);
    return entry.http.client;
  }

  /**
   * Refuses a second `forRoot`/`forRootAsync` in one application: each would bring its own
   * BallastService, and the one injected by type (into the health indicator, the status page, your
   * code) would see only its own services. Startup fails, with every service of both stopped.
   */
  onModuleInit(): Promise<void> | undefined {
    const roots = this.moduleRef.get(BallastService, { strict: false, each: true });
    if (roots.length < 2) return undefined;
    const error = new InvalidConfigError(
      'BallastModule.forRoot',
      roots.map((root) => root.names()),
      `imported ${roots.length} times; configure every service in one forRoot() or forRootAsync() ` +
        'and inject them elsewhere with forFeature([names]) or isGlobal: true',
    );
    return Promise.all(roots.map((root) => root.onApplicationShutdown())).then(() => {
      throw error;
    });
  }

  /** Nest calls it once the application has started: from then on, `provide` closes nothing. */
  onApplicationBootstrap(): void {
    this.bootstrapped = true;
  }

  /**
   * @internal Runs the factory of a per-service provider. One that fails during startup (a name
   * not configured, a missing peer) fails the application, and Nest then calls no shutdown hook:
   * the health checks and discovery already started are stopped here instead.
   */
  provide<T>(factory: () => T): T {
    try {
      return factory();
    } catch (error) {
      if (!this.bootstrapped) void this.onApplicationShutdown();
      throw error;
    }
  }

  /** Per-service health as the terminus indicator reports it. */
  health(names: readonly string[] = this.names()): Record<string, ServiceHealth> {
    const result: Record<string, ServiceHealth> = {};
    for (const name of names) {
      const { balancer, service } = this.entry(name);
      const { instances, panic } = balancer.snapshot();
      // In panic with failOnPanic, every pick fails: the service is down, healthy instances or not.
      const refusing = panic && service.balancer.health?.failOnPanic === true;
      let healthy = 0;
      let ejected = 0;
      let total = 0;
      for (const instance of instances) {
        // A removed instance finishing its requests is no longer one of the service's.
        if (instance.state === 'draining') continue;
        total += 1;
        if (instance.state === 'healthy' || instance.state === 'slow-start') healthy += 1;
        else if (instance.state === 'ejected') ejected += 1;
      }
      result[name] = { status: healthy > 0 && !refusing ? 'up' : 'down', healthy, ejected, total, panic };
    }
    return result;
  }

  /**
   * Stops discovery and health checks, closes connection pools (waiting for requests in flight)
   * and the balancers. Nest calls it on `app.close()` and, with `enableShutdownHooks()`, on a
   * signal; after the HTTP server stopped taking requests. Idempotent.
   */
  onApplicationShutdown(): Promise<void> {
    this.closing ??= (async () => {
      const entries = [...this.entries.values()];
      const failures: unknown[] = [];
      const attempt = async (step: () => unknown) => {
        try {
          await step();
        } catch (error) {
          failures.push(error);
        }
      };
      this.statusPage?.handler.close();
      await Promise.all(
        [...entries.map((e) => e.proxy), ...this.extraProxies].map((p) => attempt(() => p.close())),
      );
      for (const entry of entries) await attempt(() => entry.balancer.close());
      for (const entry of entries) await attempt(() => entry.http?.close());
      for (const error of failures) this.logger.error({ error }, 'ballast: shutdown step failed');
    })();
    return this.closing;
  }

  private entry(name: string): Entry {
    const entry = this.entries.get(name);
    if (entry === undefined) throw unknownService(name, this.names());
    return entry;
  }
}

/** Creates the balancer (which starts its discovery), its proxy and health checks for one service. */
function start(service: ParsedService): Entry {
  const { name, config } = service;
  const balancer = inService(name, () => createBalancer(service.balancer));
  let proxy: ProxyHandler;
  try {
    proxy = inService(name, () =>
      createProxy(balancer, {
        ...config.proxy,
        // Nest on Express: Express's trust proxy decides, as in @ballast/express.
        trustForwarded: config.proxy?.trustForwarded ?? trustedByExpress,
        // As given: node refuses anything but options or false (null included) by name.
        healthCheck: config.healthCheck === undefined ? false : config.healthCheck,
        logger: service.logger,
      }),
    );
  } catch (error) {
    balancer.close();
    throw error;
  }
  return { service, balancer, proxy };
}
