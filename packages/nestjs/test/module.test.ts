import 'reflect-metadata';

import { BallastError, InvalidConfigError, type Balancer } from '@ballast/core';
import { activeHandles, expectNoHandlesBeyond, request, waitFor } from '@ballast/testing';
import { Controller, Get, Inject, Injectable, Module, Param } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { NestFactory } from '@nestjs/core';

import { BallastModule, BallastService, InjectBalancer, type BallastModuleOptions } from '../src';
import { createNestHarness, instancesOf, startupError } from './nest-app';

const h = createNestHarness();
afterEach(() => h.closeAll());

/** A controller that picks from injected balancers and answers which instance it got. */
function pickController(names: readonly string[]) {
  @Controller('pick')
  class PickController {
    constructor(@Inject(BallastService) private readonly ballast: BallastService) {}

    @Get(':service')
    pick(@Param('service') service: string) {
      const lease = this.ballast.get(service).pick();
      lease.release({ ok: true, latencyMs: 1 });
      return { id: lease.instance.id, names };
    }
  }
  return PickController;
}

describe('BallastModule.forRoot', () => {
  test('@InjectBalancer(name) gives each named service its own balancer, the one BallastService.get() has', async () => {
    const users = await h.upstreams(['u1', 'u2']);
    const [orders] = await h.upstreams(['o1']);

    @Injectable()
    class Consumer {
      constructor(
        @InjectBalancer('users') readonly users: Balancer,
        @InjectBalancer('orders') readonly orders: Balancer,
      ) {}
    }
    @Module({
      imports: [
        BallastModule.forRoot({
          services: {
            users: { instances: instancesOf(users), strategy: 'round-robin' },
            orders: { instances: instancesOf([orders!]) },
          },
        }),
      ],
      providers: [Consumer],
      controllers: [pickController(['users', 'orders'])],
    })
    class AppModule {}

    const served = await h.serve(AppModule);
    const consumer = served.app.get(Consumer);
    const ballast = served.app.get(BallastService);
    expect(consumer.users).toBe(ballast.get('users'));
    expect(consumer.orders).toBe(ballast.get('orders'));
    expect(consumer.users.service).toBe('users');
    expect(consumer.users.instances().map((i) => i.id)).toEqual(['u1', 'u2']);
    expect(consumer.orders.instances().map((i) => i.id)).toEqual(['o1']);
    expect(ballast.names()).toEqual(['users', 'orders']);

    const picks: string[] = [];
    for (let i = 0; i < 4; i++)
      picks.push((await request(`${served.url}/pick/users`)).json<{ id: string }>().id);
    expect(picks).toEqual(['u1', 'u2', 'u1', 'u2']);
    expect((await request(`${served.url}/pick/orders`)).json()).toMatchObject({ id: 'o1' });
  });

  test('BallastService.get() of an unknown name throws BALLAST_UNKNOWN_SERVICE naming the configured ones', async () => {
    const [a] = await h.upstreams(1);
    @Module({ imports: [BallastModule.forRoot({ services: { users: { instances: [a!.url] } } })] })
    class AppModule {}
    const served = await h.serve(AppModule);
    const ballast = served.app.get(BallastService);
    expect(() => ballast.get('payments')).toThrow(BallastError);
    expect(() => ballast.get('payments')).toThrow(/"payments".*configured: "users"/);
    try {
      ballast.get('payments');
    } catch (error) {
      expect((error as BallastError).code).toBe('BALLAST_UNKNOWN_SERVICE');
    }
  });

  test.each<[string, BallastModuleOptions | Record<string, unknown>, string, unknown]>([
    [
      'an instance URL',
      { services: { users: { instances: ['ftp://x'] } } },
      'services.users.instances[0].url',
      'ftp://x',
    ],
    [
      'a strategy',
      { services: { users: { instances: [], strategy: 'fastest' as never } } },
      'services.users.strategy',
      'fastest',
    ],
    [
      'a proxy option',
      { services: { users: { instances: [], proxy: { timeoutMs: -1 } } } },
      'services.users.proxy.timeoutMs',
      -1,
    ],
    [
      'a health check option',
      { services: { users: { instances: [], healthCheck: { intervalMs: 0 } } } },
      'services.users.healthCheck.intervalMs',
      0,
    ],
    [
      "the balanced HTTP client's retries",
      { services: { users: { instances: [], http: { retries: -1 } } } },
      'services.users.http.retries',
      -1,
    ],
    ['the services', { services: null as never }, 'services', null],
    ['an unknown module option', { services: {}, servics: {} }, 'servics', {}],
    ['an unknown option with an empty name', { services: {}, '': 1 } as never, '[""]', 1],
    ['the logger', { services: {}, logger: 'debug' as never }, 'logger', 'debug'],
    [
      'a discovery',
      { services: { users: { instances: [], discovery: 42 as never } } },
      'services.users.discovery',
      42,
    ],
  ])(
    'invalid %s fails startup with InvalidConfigError naming the field and value',
    async (_label, options, field, value) => {
      @Module({ imports: [BallastModule.forRoot(options as BallastModuleOptions)] })
      class AppModule {}
      const error = await startupError(AppModule);
      expect(error).toBeInstanceOf(InvalidConfigError);
      expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field, value });
      expect((error as Error).message).toContain(field);
    },
  );

  test("a bad service after a good one leaves none of the good one's health checks running", async () => {
    const [a] = await h.upstreams(1);
    const baseline = activeHandles();
    @Module({
      imports: [
        BallastModule.forRoot({
          services: {
            good: { instances: [a!.url], healthCheck: { intervalMs: 20 } },
            bad: { instances: ['not a url'] },
          },
        }),
      ],
    })
    class AppModule {}
    const error = await startupError(AppModule);
    expect(error).toMatchObject({ field: 'services.bad.instances[0].url' });
    await expectNoHandlesBeyond(baseline);
    const checks = a!.healthChecks();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(a!.healthChecks()).toBe(checks);
  });

  test('imported twice (in two feature modules): startup fails naming forRoot, with no health checks left running', async () => {
    const [a, b] = await h.upstreams(2);
    const baseline = activeHandles();
    // Each module's injections would work, but BallastService, the health indicator and the
    // status page would each see one of the two sets of services: half the application.
    @Module({
      imports: [
        BallastModule.forRoot({
          services: { users: { instances: [a!.url], healthCheck: { intervalMs: 20 } } },
        }),
      ],
    })
    class UsersModule {}
    @Module({
      imports: [
        BallastModule.forRoot({
          services: { orders: { instances: [b!.url], healthCheck: { intervalMs: 20 } } },
        }),
      ],
    })
    class OrdersModule {}
    @Module({ imports: [UsersModule, OrdersModule] })
    class AppModule {}

    // Found once every module is built: when the application initializes (init() or listen()).
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    const error = await app.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BallastError);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field: 'BallastModule.forRoot' });
    expect(String(error)).toMatch(/imported 2 times.*forFeature/);
    await expectNoHandlesBeyond(baseline);
    const checks = [a!.healthChecks(), b!.healthChecks()];
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect([a!.healthChecks(), b!.healthChecks()]).toEqual(checks);
  });

  test('isGlobal: true makes the per-service injections visible in modules that do not import BallastModule', async () => {
    const [a] = await h.upstreams(1);
    @Injectable()
    class Deep {
      constructor(@InjectBalancer('users') readonly users: Balancer) {}
    }
    @Module({ providers: [Deep] })
    class FeatureModule {}

    @Module({
      imports: [
        BallastModule.forRoot({ services: { users: { instances: [a!.url] } }, isGlobal: true }),
        FeatureModule,
      ],
    })
    class GlobalApp {}
    const served = await h.serve(GlobalApp);
    expect(
      served.app
        .get(Deep)
        .users.instances()
        .map((i) => i.id),
    ).toEqual([a!.url]);

    @Module({
      imports: [BallastModule.forRoot({ services: { users: { instances: [a!.url] } } }), FeatureModule],
    })
    class LocalApp {}
    const error = await startupError(LocalApp);
    expect(String(error)).toMatch(/BallastBalancer:users/);
  });
});

describe('BallastModule.forRootAsync', () => {
  test('options from ConfigService; forFeature() provides the named balancers in a feature module', async () => {
    const ups = await h.upstreams(['a', 'b']);

    @Controller('users')
    class UsersController {
      constructor(@InjectBalancer('users') private readonly users: Balancer) {}
      @Get()
      pick() {
        const lease = this.users.pick();
        lease.release({ ok: true, latencyMs: 1 });
        return { id: lease.instance.id, strategy: this.users.strategy };
      }
    }
    @Module({ imports: [BallastModule.forFeature(['users'])], controllers: [UsersController] })
    class UsersModule {}

    @Module({
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          load: [() => ({ upstreams: { users: ups.map((u) => u.url).join(',') } })],
        }),
        BallastModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            services: {
              users: {
                instances: config.getOrThrow<string>('upstreams.users').split(','),
                strategy: 'round-robin',
              },
            },
          }),
        }),
        UsersModule,
      ],
    })
    class AppModule {}

    const served = await h.serve(AppModule);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const body = (await request(`${served.url}/users`)).json<{ id: string; strategy: string }>();
      expect(body.strategy).toBe('round-robin');
      ids.push(body.id);
    }
    expect(ids).toEqual([ups[0]!.url, ups[1]!.url, ups[0]!.url, ups[1]!.url]);
    expect(served.app.get(BallastService).names()).toEqual(['users']);
  });

  test('forFeature() of a name the factory did not configure fails startup with BALLAST_UNKNOWN_SERVICE', async () => {
    @Module({
      imports: [
        BallastModule.forRootAsync({ useFactory: async () => ({ services: { users: { instances: [] } } }) }),
        BallastModule.forFeature(['orders']),
      ],
    })
    class AppModule {}
    const error = await startupError(AppModule);
    expect(error).toMatchObject({ code: 'BALLAST_UNKNOWN_SERVICE' });
    expect((error as Error).message).toMatch(/"orders".*"users"/);
  });

  test('an invalid http option fails startup at once, naming it, with no health checks left running', async () => {
    const [a] = await h.upstreams(1);
    @Module({
      imports: [
        BallastModule.forRootAsync({
          useFactory: async () => ({
            logger: false,
            services: {
              users: {
                instances: [a!.url],
                healthCheck: { intervalMs: 20 },
                http: { retries: 'x' as never },
              },
            },
          }),
        }),
      ],
    })
    class AppModule {}
    const error = await startupError(AppModule);
    expect(error).toMatchObject({
      code: 'BALLAST_INVALID_CONFIG',
      field: 'services.users.http.retries',
      value: 'x',
    });
    const checks = a!.healthChecks();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(a!.healthChecks()).toBe(checks);
  });

  // Spread into the proxy's options, a non-object `proxy` vanished (or a string became its
  // characters), and a null healthCheck meant "off".
  test.each<[string, Record<string, unknown>, string, unknown]>([
    ['proxy: null', { proxy: null }, 'services.users.proxy', null],
    ['proxy: true', { proxy: true }, 'services.users.proxy', true],
    ['proxy: 5', { proxy: 5 }, 'services.users.proxy', 5],
    ["proxy: 'fast'", { proxy: 'fast' }, 'services.users.proxy', 'fast'],
    ['healthCheck: null', { healthCheck: null }, 'services.users.healthCheck', null],
  ])('%s fails startup naming %s', async (_label, option, field, value) => {
    @Module({
      imports: [
        BallastModule.forRoot({
          logger: false,
          services: { users: { instances: ['http://127.0.0.1:1'], ...option } },
        }),
      ],
    })
    class AppModule {}
    const error = await startupError(AppModule);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field, value });
  });

  test("a forFeature() name the factory did not configure leaves none of the configured services' health checks running", async () => {
    const [a] = await h.upstreams(1);
    const baseline = activeHandles();
    @Module({
      imports: [
        BallastModule.forRootAsync({
          useFactory: async () => ({
            logger: false,
            services: { users: { instances: [a!.url], healthCheck: { intervalMs: 20 } } },
          }),
        }),
        BallastModule.forFeature(['orders']),
      ],
    })
    class AppModule {}
    const error = await startupError(AppModule);
    expect(error).toMatchObject({ code: 'BALLAST_UNKNOWN_SERVICE' });
    await expectNoHandlesBeyond(baseline);
    const checks = a!.healthChecks();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(a!.healthChecks()).toBe(checks);
  });
});

describe('lifecycle', () => {
  test('app.close() stops health checks and discovery, closes the balancers and leaves no open handles', async () => {
    const baseline = activeHandles();
    const ups = await h.upstreams(2);
    const withUpstreams = activeHandles();
    const stopped: string[] = [];
    @Module({
      imports: [
        BallastModule.forRoot({
          services: {
            users: {
              instances: instancesOf(ups),
              healthCheck: { intervalMs: 20 },
              // A discovery source that adds an instance and is stopped at shutdown.
              discovery: {
                name: 'test',
                subscribe(sink) {
                  sink.update([{ id: 'late', url: ups[0]!.url + '/late' }]);
                  const timer = setInterval(() => undefined, 1_000);
                  return () => (clearInterval(timer), stopped.push('users'));
                },
              },
            },
            orders: {
              instances: [ups[1]!.url],
              discovery: { name: 'none', subscribe: () => () => void stopped.push('orders') },
            },
          },
        }),
      ],
      controllers: [pickController(['users'])],
    })
    class AppModule {}

    const served = await h.serve(AppModule);
    const ballast = served.app.get(BallastService);
    const users = ballast.get('users');
    expect(users.instances().map((i) => i.id)).toEqual(['a', 'b', 'late']);
    await waitFor(() => ups.every((u) => u.healthChecks() > 1), { message: 'health checks to run' });
    expect((await request(`${served.url}/pick/users`)).status).toBe(200);

    await served.close();
    expect(stopped.sort()).toEqual(['orders', 'users']);
    expect(() => users.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_CLOSED' }));
    await expectNoHandlesBeyond(withUpstreams);
    const checks = ups.map((u) => u.healthChecks());
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(ups.map((u) => u.healthChecks())).toEqual(checks);
    await h.closeAll();
    await expectNoHandlesBeyond(baseline);
  });
});
