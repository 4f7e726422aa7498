import http from 'node:http';

import { createBalancer } from '@ballast/core';
import type { StatusSnapshot } from '@ballast/node';
import { closeServer, listen, request } from '@ballast/testing';
import Koa, { type Middleware } from 'koa';

import { status } from '../src';

/** What koa-mount does: strips `prefix` from ctx.path for the mounted middleware. */
function mount(prefix: string, mw: Middleware): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== prefix && !ctx.path.startsWith(`${prefix}/`)) return next();
    const original = ctx.path;
    ctx.path = ctx.path.slice(prefix.length) || '/';
    try {
      await mw(ctx, () => Promise.resolve());
    } finally {
      ctx.path = original;
    }
  };
}

test('Koa status(): a path with a trailing slash, under a mount, query strings, headers of every answer', async () => {
  const users = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const direct = status(users, { path: '/ops/ballast/', token: 'tk' });
  const mounted = status(users, { path: '/', token: 'tk' });
  const app = new Koa();
  app.silent = true;
  app.use(direct);
  app.use(mount('/admin', mounted));
  app.use((ctx) => {
    ctx.status = 418;
    ctx.body = 'app';
  });
  const handle = app.callback();
  const server = http.createServer((req, res) => void handle(req, res));
  const url = await listen(server);
  try {
    for (const base of ['/ops/ballast', '/admin']) {
      for (const suffix of ['', '/', '?token=tk', '/?token=tk&a=b']) {
        const res = await request(`${url}${base}${suffix}`, {
          headers: suffix.includes('token') ? {} : { authorization: 'Bearer tk' },
        });
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      }
      const snap = await request(`${url}${base}/snapshot.json?points=2&token=tk`);
      expect(snap.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(snap.json<StatusSnapshot>().services[0]!.service).toBe('users');
      const refused = await request(`${url}${base}/snapshot.json?token=tK`);
      expect(refused.status).toBe(401);
      expect(refused.text).toBe('Unauthorized\n');
      const put = await request(`${url}${base}/snapshot.json?token=tk`, { method: 'PUT' });
      expect(put.status).toBe(405);
      expect(put.headers.allow).toBe('GET, HEAD');
      for (const res of [refused, put]) {
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.headers['x-frame-options']).toBe('DENY');
        expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      }
    }
    expect((await request(`${url}/ops/ballastic`)).status).toBe(418);
    expect((await request(`${url}/administrator`)).status).toBe(418);
  } finally {
    direct.close();
    mounted.close();
    await closeServer(server);
    users.close();
  }
});
