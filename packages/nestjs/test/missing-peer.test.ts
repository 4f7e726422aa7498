import 'reflect-metadata';

import { BallastError } from '@ballast/core';
import { activeHandles, expectNoHandlesBeyond } from '@ballast/testing';
import { Module } from '@nestjs/common';

import { BallastModule } from '../src';
import { createNestHarness, startupError } from './nest-app';

// axios and @ballast/axios not installed, as the real loader sees it: neither resolves, and
// building a client fails with BALLAST_MISSING_PEER.
jest.mock('../src/balanced-http', () => ({
  balancedHttpAvailable: () => false,
  createBalancedHttp: () => {
    throw new BallastError(
      'BALLAST_MISSING_PEER',
      'The balanced HTTP client of service "users" needs the optional peer dependency axios',
    );
  },
}));

const h = createNestHarness();
afterEach(() => h.closeAll());

test.each(['forRoot', 'forRootAsync'] as const)(
  'without axios, a service that sets http fails startup with BALLAST_MISSING_PEER through %s, leaving nothing running',
  async (method) => {
    const [a] = await h.upstreams(1);
    const baseline = activeHandles();
    const options = {
      logger: false as const,
      services: { users: { instances: [a!.url], healthCheck: { intervalMs: 20 }, http: { retries: 2 } } },
    };
    @Module({
      imports:
        method === 'forRoot'
          ? [BallastModule.forRoot(options)]
          : [
              BallastModule.forRootAsync({ useFactory: async () => options }),
              BallastModule.forFeature(['users']),
            ],
    })
    class AppModule {}
    expect(await startupError(AppModule)).toMatchObject({ code: 'BALLAST_MISSING_PEER' });
    await expectNoHandlesBeyond(baseline);
    const checks = a!.healthChecks();
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(a!.healthChecks()).toBe(checks);
  },
);
