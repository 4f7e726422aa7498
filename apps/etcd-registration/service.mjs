#!/usr/bin/env node
// A service instance that registers itself in etcd while it runs (@ballast/etcd registerInstance).
//
// ETCD_URL (default http://127.0.0.1:2379), SERVICE (default hello), ID (default hello-<pid>),
// PORT (default 0: any free port), TTL_SECONDS (default 5: how long a crashed instance stays listed).
// SIGTERM or Ctrl-C deregisters first (gateways stop sending), then closes the server.
import http from 'node:http';
import process from 'node:process';

import { closeServer, HOST, hosts, onStop, require, service } from './common.mjs';

const { registerInstance } = require('@ballast/etcd');
const id = process.env.ID ?? `hello-${process.pid}`;

const server = http.createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify({ instance: id, path: req.url })}\n`);
});
await new Promise((resolve) => server.listen(Number(process.env.PORT ?? 0), HOST, resolve));
const url = `http://${HOST}:${server.address().port}`;

const registration = await registerInstance({
  hosts,
  service,
  instance: { id, url, metadata: { pid: String(process.pid) } },
  ttlSeconds: Number(process.env.TTL_SECONDS ?? 5),
});
console.log(`Registered ${id} at ${url} as ${registration.key} in ${hosts}`);

onStop(async (signal) => {
  await registration.close();
  await closeServer(server);
  console.log(`${signal}: deregistered ${id}. Stopped.`);
});
