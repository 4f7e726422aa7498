import 'reflect-metadata';

import { request, waitFor, type Upstream } from '@ballast/testing';
import {
  Controller,
  Get,
  Module,
  type LoggerService,
  type MiddlewareConsumer,
  type NestModule,
} from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';

import {
  BallastHealthIndicator,
  BallastModule,
  BallastProxyMiddleware,
  BallastService,
  nestLogger,
  type BallastModuleOptions,
  type ServiceConfig,
  type ServiceHealth,
} from '../src';
import { createNestHarness, instancesOf } from './nest-app';

const h = createNestHarness();
afterEach(() => h.closeAll());

/**
 * A service over `upstreams` whose instances are ejected at their second consecutive failure,
 * the whole pool if need be; round-robin, so a dead instance keeps getting its turn until then,
 * and no retries, so each failure reaches the client.
 */
const ejectsFast = (upstreams: readonly Upstream[]): ServiceConfig => ({
  instances: instancesOf(upstreams),
  health: { outlier: { consecutiveFailures: 2, maxEjectionPercent: 100 } },
  proxy: { retries: 0 },
  strategy: 'round-robin',
});

@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly ballast: BallastHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.ballast.isHealthy('upstreams')]);
  }

  @Get('orders')
  @HealthCheck()
  orders() {
    return this.health.check([() => this.ballast.isHealthy('orders', ['orders'])]);
  }
}

async function app(options: BallastModuleOptions, logger?: LoggerService) {
  @Module({
    imports: [TerminusModule.forRoot({ logger: false }), BallastModule.forRoot(options)],
    controllers: [HealthController],
  })
  class AppModule implements NestModule {
    configure(consumer: MiddlewareConsumer) {
      consumer.apply(BallastProxyMiddleware.for('users')).forRoutes('users');
    }
  }
  return h.serve(AppModule, { logger: logger ?? false });
}

interface HealthBody {
  status: string;
  info?: Record<string, { status: string; services: Record<string, ServiceHealth> }>;
  error?: Record<string, { status: string; services: Record<string, ServiceHealth> }>;
}

test('the terminus indicator goes down when every instance of a service is ejected, with per-service counts', async () => {
  const users = await h.upstreams(['u1', 'u2']);
  const [orders] = await h.upstreams(['o1']);
  const served = await app({
    logger: false,
    services: {
      users: ejectsFast(users),
      orders: { instances: instancesOf([orders!]) },
    },
  });

  const up = await request(`${served.url}/health`);
  expect(up.status).toBe(200);
  expect(up.json<HealthBody>().info!.upstreams).toEqual({
    status: 'up',
    services: {
      users: { status: 'up', healthy: 2, ejected: 0, total: 2, panic: false },
      orders: { status: 'up', healthy: 1, ejected: 0, total: 1, panic: false },
    },
  });

  // Both users instances die; proxied requests fail until outlier ejection takes both out.
  await Promise.all(users.map((u) => u.kill()));
  const balancer = served.app.get(BallastService).get('users');
  for (let i = 0; i < 20 && balancer.snapshot().instances.some((x) => x.state !== 'ejected'); i++) {
    const res = await request(`${served.url}/users/${i}`);
    expect([502, 503]).toContain(res.status);
  }
  expect(balancer.snapshot().instances.map((x) => x.state)).toEqual(['ejected', 'ejected']);

  const down = await request(`${served.url}/health`);
  expect(down.status).toBe(503);
  const body = down.json<HealthBody>();
  expect(body.status).toBe('error');
  expect(body.error!.upstreams!.status).toBe('down');
  expect(body.error!.upstreams!.services.users).toMatchObject({
    status: 'down',
    healthy: 0,
    ejected: 2,
    total: 2,
  });
  expect(body.error!.upstreams!.services.orders).toMatchObject({ status: 'up', healthy: 1 });

  // A check of the other service alone stays up.
  const ordersOnly = await request(`${served.url}/health/orders`);
  expect(ordersOnly.status).toBe(200);
  expect(Object.keys(ordersOnly.json<HealthBody>().info!.orders!.services)).toEqual(['orders']);
});

test('active health checks failing make the indicator go down, and passing bring it back up', async () => {
  const [a] = await h.upstreams(1);
  const served = await app({
    logger: false,
    services: {
      users: {
        instances: [a!.url],
        healthCheck: { intervalMs: 30, timeoutMs: 2_000, unhealthyThreshold: 1 },
      },
    },
  });
  const ballast = served.app.get(BallastService);
  const status = async () => (await request(`${served.url}/health`)).status;
  await waitFor(() => a!.healthChecks() >= 2, { message: 'health checks to pass' });
  expect(await status()).toBe(200);
  a!.healthy = false;
  await waitFor(() => ballast.health().users!.status === 'down', { message: 'users to be reported down' });
  expect(ballast.get('users').snapshot().instances[0]!.state).toBe('unhealthy');
  expect(await status()).toBe(503);
  a!.healthy = true;
  await waitFor(() => ballast.health().users!.status === 'up', { message: 'users to come back' });
  expect(await status()).toBe(200);
});

describe("Ballast's logger bridges to Nest's Logger", () => {
  /** A Nest LoggerService that records every line with its level and context. */
  function recorder() {
    const lines: Array<{ level: string; message: unknown; params: unknown[] }> = [];
    const record =
      (level: string) =>
      (message: unknown, ...params: unknown[]) =>
        void lines.push({ level, message, params });
    const logger: LoggerService = {
      log: record('log'),
      error: record('error'),
      warn: record('warn'),
      debug: record('debug'),
      verbose: record('verbose'),
    };
    return { lines, logger };
  }

  test('an ejection is a warn line of context Ballast on the application logger', async () => {
    const [a, b] = await h.upstreams(2);
    const { lines, logger } = recorder();
    const served = await app(
      {
        services: {
          users: ejectsFast([a!, b!]),
        },
      },
      logger,
    );
    await b!.kill();
    for (let i = 0; i < 8; i++) await request(`${served.url}/users/${i}`);
    const ejected = lines.find((line) => line.message === 'ballast: instance ejected');
    expect(ejected).toBeDefined();
    expect(ejected!.level).toBe('warn');
    expect(ejected!.params.at(-1)).toBe('Ballast');
    expect(ejected!.params[0]).toMatchObject({ service: 'users', instance: 'b' });
    // The failed requests themselves are debug lines, not warnings.
    const failures = lines.filter((line) => line.message === 'ballast: proxy error');
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((line) => line.level === 'debug')).toBe(true);
  });

  test('an error line carries its fields and the stack of its error', async () => {
    const { lines, logger } = recorder();
    await app({ services: { users: { instances: [] } } }, logger);
    const error = new Error('boom');
    nestLogger('Gateway').error({ service: 'users', error }, 'ballast: proxy failure');
    nestLogger().info({ service: 'users' }, 'ballast: strategy switched');
    expect(lines.filter((line) => String(line.message).startsWith('ballast:'))).toEqual([
      {
        level: 'error',
        message: 'ballast: proxy failure',
        params: [{ service: 'users', error }, error.stack, 'Gateway'],
      },
      { level: 'log', message: 'ballast: strategy switched', params: [{ service: 'users' }, 'Ballast'] },
    ]);
  });

  test('logger: false keeps Ballast silent; a pino-compatible logger receives the lines instead', async () => {
    const [a, b] = await h.upstreams(2);
    const nest = recorder();
    const pino: Array<[string, object, string | undefined]> = [];
    const own = {
      debug: (obj: object, msg?: string) => void pino.push(['debug', obj, msg]),
      info: (obj: object, msg?: string) => void pino.push(['info', obj, msg]),
      warn: (obj: object, msg?: string) => void pino.push(['warn', obj, msg]),
      error: (obj: object, msg?: string) => void pino.push(['error', obj, msg]),
    };
    const services = {
      users: ejectsFast([a!, b!]),
    };
    const silent = await app({ services, logger: false }, nest.logger);
    const withOwn = await app({ services, logger: own }, nest.logger);
    await b!.kill();
    for (let i = 0; i < 8; i++) {
      await request(`${silent.url}/users/${i}`);
      await request(`${withOwn.url}/users/${i}`);
    }
    expect(pino.some(([level, , msg]) => level === 'warn' && msg === 'ballast: instance ejected')).toBe(true);
    expect(nest.lines.filter((line) => String(line.message).startsWith('ballast:'))).toEqual([]);
  });

  test('a logger that throws never breaks a request', async () => {
    const [a, b] = await h.upstreams(2);
    let calls = 0;
    const broken = () => {
      calls += 1;
      throw new Error('logger down');
    };
    const served = await app({
      logger: { debug: broken, info: broken, warn: broken, error: broken },
      services: {
        users: ejectsFast([a!, b!]),
      },
    });
    await b!.kill();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await request(`${served.url}/users/${i}`)).status);
    expect(calls).toBeGreaterThan(0); // the failures and the ejection were logged, and threw
    expect(statuses.filter((s) => s === 502).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 502)).toBe(true);
    expect(statuses.slice(-2)).toEqual([200, 200]); // b ejected: all to a
  });
});

test('a removed instance still finishing its requests is not counted in the service total', async () => {
  const users = await h.upstreams(['u1', 'u2']);
  const served = await app({ logger: false, services: { users: { instances: instancesOf(users) } } });
  const ballast = served.app.get(BallastService);
  const balancer = ballast.get('users');
  const lease = balancer.pick();
  expect(balancer.remove(lease.instance.id)).toBe(true);

  expect(balancer.snapshot().instances.map((i) => i.state)).toEqual(['healthy', 'draining']);
  expect(ballast.health().users).toEqual({ status: 'up', healthy: 1, ejected: 0, total: 1, panic: false });
  lease.release({ ok: true });
  expect(ballast.health().users).toMatchObject({ healthy: 1, total: 1 });
});

// With health.failOnPanic a pool in panic serves nothing (every pick throws BALLAST_NO_INSTANCE),
// though some instances are healthy: the indicator said up.
test('with failOnPanic, a service in panic that refuses every request is reported down', async () => {
  const ups = await h.upstreams(['a', 'b', 'c', 'd']);
  for (const u of ups.slice(1)) u.healthy = false;
  @Module({
    imports: [
      BallastModule.forRoot({
        logger: false,
        services: {
          users: {
            instances: instancesOf(ups),
            health: { failOnPanic: true },
            healthCheck: { path: '/health', intervalMs: 20, unhealthyThreshold: 1 },
          },
        },
      }),
    ],
  })
  class AppModule {}
  const served = await h.serve(AppModule);
  const balancer = served.app.get(BallastService).get('users');
  await waitFor(() => balancer.snapshot().instances.filter((i) => i.state === 'unhealthy').length === 3);
  expect(() => balancer.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_NO_INSTANCE' }));
  const result = served.app.get(BallastHealthIndicator).isHealthy('k');
  expect(result.k.status).toBe('down');
});
