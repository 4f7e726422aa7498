import { InvalidConfigError } from '@ballast/core';
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
    // Nest's module builder would read the options with Object.keys: a TypeError, not this.
    if (!isObject(options)) {
      throw new InvalidConfigError('BallastModule options', options, 'expected an object with `services`');
    }
    const services = (options as { services?: unknown } | undefined)?.services;
    const configs = typeof services === 'object' && services !== null ? Object.entries(services) : [];
    const providers = configs.flatMap(([name, config]) =>
      serviceProviders(name, (config as { http?: unknown } | null)?.http !== undefined),
    );
    return root(BallastCoreModule.forRoot(options), options?.isGlobal, providers);
  }

  /** Configures the services from a factory; pair it with `forFeature([names])` for injection. */
  static forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    checkAsyncOptions(options);
    return root(BallastCoreModule.forRootAsync(options), options.isGlobal, []);
  }

  /**
   * Provides `@InjectBalancer(name)` (and `@InjectBalancedHttp(name)` when axios and
   * @ballast/axios are installed) for the named services in the importing module; the names
   * must be among those the root configuration gives.
   */
  static forFeature(services: readonly string[]): DynamicModule {
    if (!Array.isArray(services)) {
      throw new InvalidConfigError(
        'BallastModule.forFeature',
        services,
        'expected an array of service names',
      );
    }
    services.forEach((name: unknown, i) => {
      if (typeof name !== 'string') {
        throw new InvalidConfigError(`BallastModule.forFeature[${i}]`, name, 'expected a service name');
      }
    });
    const providers = services.flatMap((name) => serviceProviders(name, false));
    return {
      module: BallastModule,
      providers,
      exports: providers.map((p) => (p as { provide: string }).provide),
    };
  }
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Checks what `forRootAsync` gets before Nest's module builder reads it: without a factory it
 * would fail later with an unresolvable dependency of `BALLAST_MODULE_OPTIONS`, and with a
 * factory that is not a function with a TypeError from inside Nest.
 */
function checkAsyncOptions(options: unknown): void {
  const expected = 'expected { useFactory | useClass | useExisting, inject?, imports?, isGlobal? }';
  if (!isObject(options))
    throw new InvalidConfigError('BallastModule.forRootAsync options', options, expected);
  const { useFactory, useClass, useExisting } = options;
  if (useFactory !== undefined && typeof useFactory !== 'function') {
    throw new InvalidConfigError(
      'useFactory',
      useFactory,
      'expected a function returning the module options',
    );
  }
  if (useClass !== undefined && typeof useClass !== 'function') {
    throw new InvalidConfigError('useClass', useClass, 'expected a class with createBallastOptions()');
  }
  if (useFactory === undefined && useClass === undefined && useExisting === undefined) {
    throw new InvalidConfigError('BallastModule.forRootAsync options', options, expected);
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
