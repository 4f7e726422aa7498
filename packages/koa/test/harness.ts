// Real servers for the Koa adapter's tests: upstreams, and Koa apps with the middleware under
// test, all closed after each test, newest first.
import http from 'node:http';

import { closeServer, failOnProcessErrors, listen } from '@ballast/testing';
import Koa, { type Middleware } from 'koa';

import type { BalancerMiddleware } from '../src';

/** Servers started by a test, closed newest first; process-level crashes fail the test. */
export function koaHarness() {
  const closers: Array<() => Promise<void>> = [];
  failOnProcessErrors();
  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c();
  });

  async function upstream(handler: http.RequestListener): Promise<string> {
    const server = http.createServer(handler);
    const url = await listen(server);
    closers.push(async () => {
      server.closeAllConnections();
      await closeServer(server);
    });
    return url;
  }

  async function serve(mw: BalancerMiddleware, before: Middleware[] = [], setup?: (app: Koa) => void) {
    const app = new Koa();
    app.silent = true;
    setup?.(app);
    for (const m of before) app.use(m);
    app.use(mw);
    const handle = app.callback();
    const server = http.createServer((req, res) => void handle(req, res));
    const url = await listen(server);
    closers.push(async () => {
      server.closeAllConnections();
      await closeServer(server);
      await mw.close();
    });
    return { url, app, server };
  }
  return { upstream, serve };
}
