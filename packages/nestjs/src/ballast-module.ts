import {
  Global,
  Module,
  RequestMethod,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type Provider,
} from '@nestjs/common';

import { BallastService } from './ballast-service';
import { balancedHttpAvailable } from './balanced-http';
import { BallastHealthIndicator } from './health-indicator';
import { getBalancedHttpToken, getBalancerToken } from './inject';
import { ASYNC_OPTIONS_TYPE, ConfigurableModuleClass, OPTIONS_TYPE } from './module-definition';

/**
 * Holds the options and `BallastService`; global so `forFeature()` modules find the service.
 * Mounts the status page when the `statusPage` option asks for it.
 */
@Global()
@Module({
  providers: [BallastService, BallastHealthIndicator],
  exports: [BallastService, BallastHealthIndicator],
})
class BallastCoreModule extends ConfigurableModuleClass implements NestModule {
  constructor(private readonly ballast: BallastService) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    const page = this.ballast.statusPage;
    if (page === undefined) return;
    const path = page.path.slice(1);
    consumer
      .apply(page.middleware)
      .forRoutes({ path, method: RequestMethod.ALL }, { path: `${path}/*rest`, method: RequestMethod.ALL });
  }
}

/**
 * The Nest module of Ballast. `forRoot({ services })` creates a balancer per named service (with
 * its health checks, proxy and balanced HTTP client) and provides each for
 * `@InjectBalancer(name)` and `@InjectBalancedHttp(name)`; `forRootAsync({ imports, useFactory,
 * inject })` takes the options from a factory (such as `ConfigService`), and then
 * `forFeature([names])` provides the injections where they are used. `BallastService` and
 * `BallastHealthIndicator` are injectable everywhere; `isGlobal: true` makes the per-service
 * injections of `forRoot` global too. Everything closes on application shutdown.
 *
 * @example
 * ```ts
 * @Module({
 *   imports: [
 *     BallastModule.forRoot({
 *       services: { users: { instances: ['http://10.0.0.1:3000', 'http://10.0.0.2:3000'] } },
 *     }),
 *   ],
 * })
 * export class AppModule {}
 * ```
 */
@Module({})
export class BallastModule {
  /** Configures the services from a static object. */
  static forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    const services = (options as { services?: unknown } | undefined)?.services;
    const configs = typeof services === 'object' && services !== null ? Object.entries(services) : [];
    const providers = configs.flatMap(([name, config]) =>
      serviceProviders(name, (config as { http?: unknown } | null)?.http !== undefined),
    );
    return root(BallastCoreModule.forRoot(options), options?.isGlobal, providers);
  }

  /** Configures the services from a factory; pair it with `forFeature([names])` for injection. */
  static forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return root(BallastCoreModule.forRootAsync(options), options.isGlobal, []);
  }

  /**
   * Provides `@InjectBalancer(name)` (and `@InjectBalancedHttp(name)` when axios and
   * @ballast/axios are installed) for the named services in the importing module; the names
   * must be among those the root configuration gives.
   */
  static forFeature(services: readonly string[]): DynamicModule {
    const providers = services.flatMap((name) => serviceProviders(name, false));
    return {
      module: BallastModule,
      providers,
      exports: providers.map((p) => (p as { provide: string }).provide),
    };
  }
}

function root(core: DynamicModule, isGlobal: boolean | undefined, providers: Provider[]): DynamicModule {
  return {
    module: BallastModule,
    global: isGlobal === true,
    imports: [core],
    providers,
    exports: providers.map((p) => (p as { provide: string }).provide),
  };
}

/**
 * The balancer of a service and, if its peers are installed (or `requested` explicitly, so that
 * a missing peer fails at startup with a clear error), its balanced HTTP client.
 */
function serviceProviders(name: string, requested: boolean): Provider[] {
  const providers: Provider[] = [
    {
      provide: getBalancerToken(name),
      useFactory: (b: BallastService) => b.provide(() => b.get(name)),
      inject: [BallastService],
    },
  ];
  if (requested || balancedHttpAvailable()) {
    providers.push({
      provide: getBalancedHttpToken(name),
      useFactory: (b: BallastService) => b.provide(() => b.http(name)),
      inject: [BallastService],
    });
  }
  return providers;
}
