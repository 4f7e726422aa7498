import 'reflect-metadata';

import type { EchoBody } from '@ballast/testing';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { AxiosInstance } from 'axios';

import { BallastHealthIndicator, BallastModule, InjectBalancedHttp } from '../src';
import { createNestHarness, instancesOf } from './nest-app';

// init() and close() twice, with two services and their own balanced clients.
const h = createNestHarness();
afterEach(() => h.closeAll());

test('init and close twice, two services with their own balanced clients, health of an unknown name', async () => {
  const users = await h.upstreams(['u1', 'u2']);
  const orders = await h.upstreams(['o1']);
  @Injectable()
  class Clients {
    constructor(
      @InjectBalancedHttp('users') readonly users: AxiosInstance,
      @InjectBalancedHttp('orders') readonly orders: AxiosInstance,
    ) {}
  }
  @Module({
    imports: [
      BallastModule.forRoot({
        services: { users: { instances: instancesOf(users) }, orders: { instances: instancesOf(orders) } },
        logger: false,
      }),
    ],
    providers: [Clients],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  await app.init();
  await app.init();
  const clients = app.get(Clients);
  expect(clients.users).not.toBe(clients.orders);
  expect((await clients.orders.get<EchoBody>('/x')).data.name).toBe('o1');
  expect(['u1', 'u2']).toContain((await clients.users.get<EchoBody>('/x')).data.name);
  const indicator = app.get(BallastHealthIndicator);
  expect(indicator.isHealthy('k').k.status).toBe('up');
  expect(() => indicator.isHealthy('k', ['nope'])).toThrow(
    expect.objectContaining({ code: 'BALLAST_UNKNOWN_SERVICE' }),
  );
  await app.close();
  await app.close();
  await expect(clients.users.get('/x')).rejects.toMatchObject({ code: 'BALLAST_CLOSED' });
});
