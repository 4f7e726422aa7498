// The README's example, as it is written there (app.module.ts and orders.controller.ts), run
// against real upstreams, so the documentation cannot drift from what works.
import 'reflect-metadata';

import { request, type EchoBody } from '@ballast/testing';
import { Controller, Get, Module, Param, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import type { AxiosInstance } from 'axios';

import { BallastHealthIndicator, BallastModule, BallastProxyMiddleware, InjectBalancedHttp } from '../src';
import { createNestHarness } from './nest-app';

// --- orders.controller.ts
@Controller('orders')
export class OrdersController {
  constructor(@InjectBalancedHttp('orders') private readonly orders: AxiosInstance) {}

  @Get(':id')
  async find(@Param('id') id: string) {
    const { data } = await this.orders.get(`/orders/${id}`); // sent to a healthy orders instance
    return data;
  }
}

// --- health.controller.ts
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly upstreams: BallastHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check() {
    return this.health.check([() => this.upstreams.isHealthy('upstreams')]);
  }
}

// --- app.module.ts
@Module({
  imports: [
    ConfigModule.forRoot(),
    TerminusModule,
    BallastModule.forRootAsync({
      imports: [ConfigModule],
      inject: [ConfigService],
      useFactory: (config: ConfigService) => ({
        services: {
          users: {
            instances: config.getOrThrow<string>('USERS_URLS').split(','),
            healthCheck: { path: '/health', intervalMs: 5_000 },
          },
          orders: {
            instances: config.getOrThrow<string>('ORDERS_URLS').split(','),
            strategy: 'peak-ewma',
            http: { retries: 2 },
          },
        },
      }),
    }),
    BallastModule.forFeature(['orders']),
  ],
  controllers: [OrdersController, HealthController],
})
export class AppModule implements NestModule {
  configure(consumer: MiddlewareConsumer) {
    // GET /users/42 is proxied to a users instance as GET /users/42.
    consumer.apply(BallastProxyMiddleware.for('users')).forRoutes('users');
  }
}

// --- the test
const h = createNestHarness();
afterEach(() => h.closeAll());

test('the README example proxies /users, calls orders through the balanced client and reports health', async () => {
  const users = await h.upstreams(['users-1', 'users-2']);
  const orders = await h.upstreams(['orders-1', 'orders-2']);
  // Restored after the test (restoreMocks).
  jest.replaceProperty(process, 'env', {
    ...process.env,
    USERS_URLS: users.map((u) => u.url).join(','),
    ORDERS_URLS: orders.map((u) => u.url).join(','),
  });
  const app = await h.serve(AppModule);

  const user = await request(`${app.url}/users/42`);
  expect(user.json<EchoBody>()).toMatchObject({ url: '/users/42' });
  expect(user.json<EchoBody>().name).toMatch(/^users-/);

  await orders[0]!.kill();
  for (let i = 0; i < 4; i++) {
    const order = await request(`${app.url}/orders/${i}`);
    expect(order.status).toBe(200);
    expect(order.json<EchoBody>()).toMatchObject({ name: 'orders-2', url: `/orders/${i}` });
  }

  const health = await request(`${app.url}/health`);
  expect(health.status).toBe(200);
  expect(health.json<{ info: Record<string, { status: string }> }>().info.upstreams!.status).toBe('up');
});
