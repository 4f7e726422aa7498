#!/usr/bin/env node
// `npm start`: a real gateway. Three local upstreams (node:http, one of them slow) behind an
// Express app that balances them with @ballast/express. Runs straight from the TypeScript
// sources through the simulator's swc hook, so it needs no build after `npm ci`.
//
// PORT picks the gateway's port (default 3000; a busy port falls back to a free one).
// Ctrl-C (SIGINT) or SIGTERM closes everything and exits 0.
import http from 'node:http';
import { createRequire } from 'node:module';
import process from 'node:process';

const require = createRequire(import.meta.url);
require('../../tools/sim/register.cjs');
const express = require('express');
const { balancer, status } = require('@ballast/express');

const HOST = '127.0.0.1';
const UPSTREAMS = [
  { name: 'alpha', delayMs: 10 },
  { name: 'beta', delayMs: 10 },
  { name: 'gamma', delayMs: 150 }, // the slow one: peak-ewma sends it less
];

/** Listens on HOST:port and resolves with the port, or rejects (EADDRINUSE...). */
function listen(server, port) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve(server.address().port);
    });
  });
}

function close(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function startUpstream({ name, delayMs }) {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/health') return res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    const timer = setTimeout(() => {
      const body = JSON.stringify({ upstream: name, method: req.method, path: req.url, delayMs });
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${body}\n`);
    }, delayMs);
    res.once('close', () => clearTimeout(timer));
  });
  return listen(server, 0).then((port) => ({ name, server, url: `http://${HOST}:${port}` }));
}

const upstreams = await Promise.all(UPSTREAMS.map(startUpstream));
const proxy = balancer(
  {
    service: 'demo',
    instances: upstreams.map(({ name, url }) => ({ id: name, url })),
    strategy: 'peak-ewma',
  },
  { healthCheck: { intervalMs: 5_000 } },
);

const app = express();
app.use('/ballast', status(proxy)); // the live status page
app.use(proxy);
const gateway = http.createServer(app);
gateway.on('upgrade', proxy.upgrade);

const wanted = Number(process.env.PORT ?? 3000);
let port;
try {
  port = await listen(gateway, wanted);
} catch (err) {
  if (err.code !== 'EADDRINUSE') throw err;
  port = await listen(gateway, 0);
  console.log(`Port ${wanted} is busy; using ${port} instead.`);
}
const url = `http://${HOST}:${port}`;

console.log(`Ballast demo: @ballast/express balancing three local upstreams (strategy peak-ewma).
${upstreams.map((u) => `  upstream ${u.name.padEnd(6)} ${u.url}`).join('\n')}
Gateway listening on ${url}

Try:
  curl ${url}/hello
      JSON from the upstream that answered, e.g. {"upstream":"alpha","method":"GET","path":"/hello",...}
  for i in $(seq 20); do curl -s ${url}/hello; done
      alpha and beta answer most requests; gamma (150 ms slower) gets few once its latency is known
  open ${url}/ballast/
      the live status page: each instance's state, health, requests/s, errors and latency
  curl ${url}/ballast/snapshot.json
      the same as JSON

Ctrl-C stops it.`);

let stopping = false;
async function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the gateway and the upstreams...`);
  // Should a close hang, do not stay behind as an orphan holding the port.
  setTimeout(() => {
    console.error('Shutdown took over 5 s; exiting anyway.');
    process.exit(1);
  }, 5_000).unref();
  await close(gateway);
  await proxy.close();
  await Promise.all(upstreams.map((u) => close(u.server)));
  console.log('Stopped.');
}
process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
