import 'reflect-metadata';

import type { StatusSnapshot } from '@ballast/node';
import { request } from '@ballast/testing';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { BallastModule, BallastService } from '../src';
import { createNestHarness, instancesOf } from './nest-app';

const h = createNestHarness();
afterEach(() => h.closeAll());

@Controller('hello')
class HelloController {
  @Get()
  hello() {
    return { hello: 'world' };
  }
}

describe('the statusPage module option', () => {
  test('serves the live page and snapshot.json of every service under its path, with the token', async () => {
    const users = await h.upstreams(['u1', 'u2']);
    const orders = await h.upstreams(['o1']);
    @Module({
      imports: [
        BallastModule.forRoot({
          services: { users: { instances: instancesOf(users) }, orders: { instances: instancesOf(orders) } },
          statusPage: { path: '/ops/ballast', token: 's3cret' },
        }),
      ],
      controllers: [HelloController],
    })
    class AppModule {}
    const { app, url } = await h.serve(AppModule);
    const lease = app.get(BallastService).get('users').pick();
    lease.release({ ok: true, latencyMs: 3 });

    const page = await request(`${url}/ops/ballast/?token=s3cret`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toBeDefined();

    const snapshot = await request(`${url}/ops/ballast/snapshot.json`, {
      headers: { authorization: 'Bearer s3cret' },
    });
    expect(snapshot.status).toBe(200);
    const body = snapshot.json<StatusSnapshot>();
    expect(body.services.map((s) => s.service)).toEqual(['users', 'orders']);
    expect(body.services[0]!.instances.map((i) => i.id)).toEqual(['u1', 'u2']);

    // Without the token: 401 and nothing else; other routes of the app are untouched.
    const denied = await request(`${url}/ops/ballast/snapshot.json`);
    expect(denied.status).toBe(401);
    expect(denied.text).not.toContain('u1');
    expect((await request(`${url}/ops/ballast/nope?token=s3cret`)).status).toBe(404);
    expect((await request(`${url}/hello`)).json()).toEqual({ hello: 'world' });
  });

  test('is off unless asked for, and `true` mounts it at /ballast', async () => {
    const ups = await h.upstreams(['a']);
    @Module({ imports: [BallastModule.forRoot({ services: { users: { instances: instancesOf(ups) } } })] })
    class Without {}
    const off = await h.serve(Without);
    expect((await request(`${off.url}/ballast/snapshot.json`)).status).toBe(404);
    expect(off.app.get(BallastService).statusPage).toBeUndefined();

    @Module({
      imports: [
        BallastModule.forRoot({ services: { users: { instances: instancesOf(ups) } }, statusPage: true }),
      ],
    })
    class With {}
    const on = await h.serve(With);
    const res = await request(`${on.url}/ballast/snapshot.json`);
    expect(res.status).toBe(200);
    expect(res.json<StatusSnapshot>().services[0]!.instances[0]!.id).toBe('a');
    expect((await request(`${on.url}/ballast`)).status).toBe(200);
  });

  test('an invalid statusPage option fails startup naming the field', async () => {
    const ups = await h.upstreams(['a']);
    @Module({
      imports: [
        BallastModule.forRoot({
          services: { users: { instances: instancesOf(ups) } },
          statusPage: { path: 'no-slash' },
        }),
      ],
    })
    class Bad {}
    await expect(h.serve(Bad)).rejects.toMatchObject({
      code: 'BALLAST_INVALID_CONFIG',
      field: 'statusPage.path',
    });
  });
  test('under a global prefix, the page and snapshot.json answer at <prefix>/<path>', async () => {
    const ups = await h.upstreams(['a']);
    @Module({
      imports: [
        BallastModule.forRoot({ services: { users: { instances: instancesOf(ups) } }, statusPage: true }),
      ],
      controllers: [HelloController],
    })
    class Prefixed {}
    const app = await NestFactory.create(Prefixed, { logger: false, abortOnError: false });
    app.setGlobalPrefix('api');
    try {
      await app.listen(0, '127.0.0.1');
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      expect((await request(`${url}/api/hello`)).json()).toEqual({ hello: 'world' });
      const res = await request(`${url}/api/ballast/snapshot.json`);
      expect(res.status).toBe(200);
      expect(res.json<StatusSnapshot>().services[0]!.instances[0]!.id).toBe('a');
      expect((await request(`${url}/api/ballast/`)).headers['content-type']).toMatch(/^text\/html/);
      expect((await request(`${url}/api/ballast`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});
