// Child process of the proxy benchmark: one Node proxy on 127.0.0.1, in a process of its own so
// that the CPU time it uses (read by the parent from /proc) is the proxy's and nothing else's.
//
// Usage (forked with an IPC channel): node contender.mjs '{"id":"undici","urls":[...],"strategy":null}'.
// Sends { port } once listening; closes and exits on a "stop" message or when the parent goes away.
import http from 'node:http';
import process from 'node:process';

import { createUndiciHandler } from './undici-handler.mjs';

const SERVICE = 'bench';

/**
 * Ballast's proxy options in every Ballast row: the defaults (passive health model, retries,
 * retry budget, timeouts, X-Forwarded-*) plus active health checks at their default interval,
 * so the rows pay for everything a production setup runs.
 */
const BALLAST_PROXY = { healthCheck: {} };

/** Each factory returns the request listener to serve and what to close on exit. */
const FACTORIES = {
  undici(urls) {
    const handler = createUndiciHandler(urls);
    return { listener: handler, close: () => handler.close() };
  },

  async 'express-undici'(urls) {
    const { default: express } = await import('express');
    const handler = createUndiciHandler(urls);
    const app = express();
    app.use(handler);
    return { listener: app, close: () => handler.close() };
  },

  // Koa's own cost, as express-undici is Express's: the minimal handler answers on ctx.res.
  async 'koa-undici'(urls) {
    const { default: Koa } = await import('koa');
    const handler = createUndiciHandler(urls);
    const app = new Koa();
    app.use((ctx) => {
      ctx.respond = false; // the handler answers on ctx.res itself
      handler(ctx.req, ctx.res);
    });
    return { listener: app.callback(), close: () => handler.close() };
  },

  async 'express-hpm'(urls) {
    const { default: express } = await import('express');
    const { createProxyMiddleware } = await import('http-proxy-middleware');
    // Without an agent, http-proxy opens a new upstream connection for every request
    // (`agent: false`); every other row keeps its upstream connections alive, so this one does too.
    const agent = new http.Agent({ keepAlive: true });
    let next = 0;
    const app = express();
    app.use(createProxyMiddleware({ target: urls[0], agent, router: () => urls[next++ % urls.length] }));
    return { listener: app, close: () => agent.destroy() };
  },

  async 'ballast-node'(urls, strategy) {
    const { createProxy } = await import('@ballast/node');
    const proxy = createProxy(balancerOptions(urls, strategy), BALLAST_PROXY);
    return { listener: proxy, close: () => proxy.close() };
  },

  async 'ballast-express'(urls, strategy) {
    const { default: express } = await import('express');
    const { balancer } = await import('@ballast/express');
    const middleware = balancer(balancerOptions(urls, strategy), BALLAST_PROXY);
    const app = express();
    app.use(middleware);
    return { listener: app, close: () => middleware.close() };
  },

  async 'ballast-koa'(urls, strategy) {
    const { default: Koa } = await import('koa');
    const { balancer } = await import('@ballast/koa');
    const middleware = balancer(balancerOptions(urls, strategy), BALLAST_PROXY);
    const app = new Koa();
    app.use(middleware);
    return { listener: app.callback(), close: () => middleware.close() };
  },
};

function balancerOptions(urls, strategy) {
  return strategy ? { service: SERVICE, instances: urls, strategy } : { service: SERVICE, instances: urls };
}

const { id, urls, strategy } = JSON.parse(process.argv[2]);
const { listener, close } = await FACTORIES[id](urls, strategy);
const server = http.createServer(listener);
// Between two loads the connections of the load generator are closed; nothing should be reaped
// in the middle of one.
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(0, '127.0.0.1', resolve);
});
process.send({ port: server.address().port });

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  await close();
  process.exit(0);
}
process.on('message', (message) => {
  if (message === 'stop') void stop();
});
process.on('disconnect', () => void stop());
