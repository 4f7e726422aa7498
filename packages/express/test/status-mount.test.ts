import http from 'node:http';

import { closeServer, listen, request } from '@ballast/testing';
import { createBalancer } from '@ballast/core';
import type { StatusSnapshot } from '@ballast/node';
import express from 'express';

import { status } from '../src';

const TOKEN = 't0ken';

test('status() in a Router under a sub-path: page, snapshot, token, 404/405 and headers relative to its mount', async () => {
  const users = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const orders = createBalancer({ service: 'orders', instances: [{ id: 'o', url: 'http://127.0.0.1:2' }] });
  const page = status([users, orders], { token: TOKEN });
  const router = express.Router();
  router.use('/ballast', page);
  const app = express();
  app.use('/admin', router);
  app.use((req, res) => res.status(418).end('app'));
  const server = http.createServer(app);
  const url = await listen(server);
  try {
    const auth = { authorization: `Bearer ${TOKEN}` };
    // The page, with and without a trailing slash, with the token in the query.
    for (const path of [
      '/admin/ballast',
      '/admin/ballast/',
      `/admin/ballast?token=${TOKEN}`,
      `/admin/ballast/?token=${TOKEN}&x=1`,
    ]) {
      const res = await request(`${url}${path}`, { headers: path.includes('token') ? {} : auth });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    }
    // No content negotiation (none is documented): the paths decide, whatever Accept says.
    for (const accept of ['application/json', 'text/html', '*/*']) {
      const html = await request(`${url}/admin/ballast/`, { headers: { ...auth, accept } });
      expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
      const data = await request(`${url}/admin/ballast/snapshot.json`, { headers: { ...auth, accept } });
      expect(data.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    // Both services on one page, in order; ?points= with the token in the query.
    const snap = (
      await request(`${url}/admin/ballast/snapshot.json?points=1&token=${TOKEN}`)
    ).json<StatusSnapshot>();
    expect(snap.services.map((s) => s.service)).toEqual(['users', 'orders']);
    // Every answer, refusals included, carries the documented headers.
    const answers = [
      await request(`${url}/admin/ballast/snapshot.json`), // 401
      await request(`${url}/admin/ballast/nope`, { headers: auth }), // 404
      await request(`${url}/admin/ballast/snapshot.json`, { method: 'PUT', headers: auth }), // 405
    ];
    expect(answers.map((r) => r.status)).toEqual([401, 404, 405]);
    expect(answers[0]!.headers['www-authenticate']).toBe('Bearer realm="ballast"');
    expect(answers[2]!.headers.allow).toBe('GET, HEAD');
    for (const res of answers) {
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['x-frame-options']).toBe('DENY');
    }
    // Outside the mount: the rest of the app.
    expect((await request(`${url}/ballast/snapshot.json`, { headers: auth })).status).toBe(418);
    expect((await request(`${url}/admin/ballastx`, { headers: auth })).status).toBe(418);
    page.close();
    const closed = await request(`${url}/admin/ballast/`, { headers: auth });
    expect(closed.status).toBe(503);
    expect(closed.headers['cache-control']).toBe('no-store');
  } finally {
    page.close();
    await closeServer(server);
    users.close();
    orders.close();
  }
});
