#!/usr/bin/env node
// A gateway that discovers its upstreams in etcd: @ballast/express balancing whatever instances
// of SERVICE are registered under /ballast/services/<SERVICE>/ (see service.mjs). Instances that
// register appear within a moment, those that stop or crash disappear, and while etcd is away the
// last known list keeps serving.
//
// ETCD_URL (default http://127.0.0.1:2379), SERVICE (default hello), PORT (default 3000; 0 for any).
import http from 'node:http';
import process from 'node:process';

import { closeServer, HOST, hosts, onStop, require, service } from './common.mjs';

const express = require('express');
const { balancer, status } = require('@ballast/express');
const { etcdDiscovery } = require('@ballast/etcd');

const proxy = balancer({ service, discovery: etcdDiscovery({ hosts, service }) });
const app = express();
app.set('json spaces', 2);
app.get('/ballast/status', status(proxy));
app.use(proxy);
const gateway = http.createServer(app);
await new Promise((resolve) => gateway.listen(Number(process.env.PORT ?? 3000), HOST, resolve));
const url = `http://${HOST}:${gateway.address().port}`;
console.log(`Gateway listening on ${url}, balancing "${service}" from etcd at ${hosts}
Try: curl ${url}/hello     curl ${url}/ballast/status`);

onStop(async (signal) => {
  await closeServer(gateway);
  await proxy.close();
  console.log(`${signal}: Stopped.`);
});
