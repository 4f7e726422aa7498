import 'reflect-metadata';

import { balancerOf } from '@ballast/axios';
import { inflight, waitFor, type EchoBody } from '@ballast/testing';
import { Controller, Get, Injectable, Module, NotFoundException, Param } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import axios, { type AxiosInstance } from 'axios';

import { BallastModule, BallastService, InjectBalancedHttp, type BallastModuleOptions } from '../src';
import { createNestHarness, instancesOf } from './nest-app';

const h = createNestHarness();
afterEach(() => h.closeAll());

/** A Nest service calling the `users` upstream through its balanced HTTP client. */
@Injectable()
class UsersClient {
  constructor(@InjectBalancedHttp('users') readonly http: AxiosInstance) {}

  async find(id: string): Promise<EchoBody> {
    return (await this.http.get<EchoBody>(`/users/${id}`)).data;
  }
}

@Controller('profile')
class ProfileController {
  constructor(private readonly users: UsersClient) {}

  @Get(':id')
  async get(@Param('id') id: string) {
    const user = await this.users.find(id).catch(() => {
      throw new NotFoundException();
    });
    return { servedBy: user.name, path: user.url };
  }
}

async function serve(options: BallastModuleOptions) {
  @Module({
    imports: [BallastModule.forRoot(options)],
    providers: [UsersClient],
    controllers: [ProfileController],
  })
  class AppModule {}
  const served = await h.serve(AppModule);
  return { ...served, client: served.app.get(UsersClient).http, ballast: served.app.get(BallastService) };
}

test('@InjectBalancedHttp(name) gives an axios instance whose relative URLs go to the picked instance', async () => {
  const ups = await h.upstreams(['a', 'b']);
  const app = await serve({
    logger: false,
    services: { users: { instances: instancesOf(ups), strategy: 'round-robin' } },
  });
  expect(app.client).toBe(app.ballast.http('users'));
  expect(balancerOf(app.client)).toBe(app.ballast.get('users'));

  const served: string[] = [];
  for (let i = 0; i < 4; i++) {
    const { data } = await axios.get<{ servedBy: string; path: string }>(`${app.url}/profile/${i}`);
    expect(data.path).toBe(`/users/${i}`);
    served.push(data.servedBy);
  }
  expect(served).toEqual(['a', 'b', 'a', 'b']);
});

test('the balanced client fails over when an upstream dies, and leaks no lease', async () => {
  const ups = await h.upstreams(['a', 'b', 'c']);
  const app = await serve({
    logger: false,
    services: { users: { instances: instancesOf(ups), strategy: 'round-robin', http: { retries: 2 } } },
  });
  await ups[1]!.kill();
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) => axios.get<{ servedBy: string }>(`${app.url}/profile/${i}`)),
  );
  expect(results.map((r) => r.status)).toEqual(Array(30).fill(200));
  const by = new Set(results.map((r) => r.data.servedBy));
  expect(by.has('b')).toBe(false);
  expect([...by].sort()).toEqual(['a', 'c']);
  const balancer = app.ballast.get('users');
  await waitFor(() => inflight(balancer) === 0, { message: 'leases to be released' });
  expect(balancer.snapshot().instances.find((i) => i.id === 'b')!.failures).toBeGreaterThan(0);
});

test('http.config reaches axios.create and http.retries withBalancer: with retries 0 a dead instance fails the call', async () => {
  const ups = await h.upstreams(['a', 'b']);
  const app = await serve({
    logger: false,
    services: {
      users: {
        instances: instancesOf(ups),
        strategy: 'round-robin',
        http: { retries: 0, config: { headers: { 'x-caller': 'nest' }, timeout: 2_000 } },
      },
    },
  });
  expect(app.client.defaults.timeout).toBe(2_000);
  const echo = (await app.client.get<EchoBody>('/users/1')).data;
  expect(echo.headers['x-caller']).toBe('nest');
  await ups[1]!.kill();
  const outcomes = await Promise.allSettled([app.client.get('/users/2'), app.client.get('/users/3')]);
  expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
});

test('forRootAsync + forFeature provide the balanced client too', async () => {
  const [a] = await h.upstreams(['a']);
  @Module({
    imports: [BallastModule.forFeature(['users'])],
    providers: [UsersClient],
    exports: [UsersClient],
  })
  class UsersModule {}
  @Module({
    imports: [
      BallastModule.forRootAsync({
        useFactory: async () => ({ logger: false, services: { users: { instances: [a!.url] } } }),
      }),
      UsersModule,
    ],
  })
  class AppModule {}
  const served = await h.serve(AppModule);
  const user = await served.app.get(UsersClient).find('9');
  expect(user).toMatchObject({ name: 'a', url: '/users/9' });
});

test('a configured http client without axios installed fails startup with BALLAST_MISSING_PEER', async () => {
  jest.doMock('axios', () => {
    throw Object.assign(new Error("Cannot find module 'axios'"), { code: 'MODULE_NOT_FOUND' });
  });
  try {
    @Module({
      imports: [BallastModule.forRoot({ logger: false, services: { users: { instances: [], http: {} } } })],
      providers: [UsersClient],
    })
    class AppModule {}
    let error: unknown;
    try {
      const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
      await app.close();
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'BALLAST_MISSING_PEER' });
    expect((error as Error).message).toMatch(/service "users".*axios/);
  } finally {
    jest.dontMock('axios');
  }
});
