// A gateway that discovers its upstreams in etcd: @ballast/express balancing whatever instances
// of SERVICE are registered under /ballast/services/<SERVICE>/ (see service.ts). Instances that
// register appear within a moment, those that stop or crash disappear, and while etcd is away the
// last known list keeps serving.
//   node -r ./tools/sim/register.cjs apps/etcd-registration/src/gateway.ts
// ETCD_URL (default http://127.0.0.1:2379), SERVICE (default hello), PORT (default 3000; 0 for any).
import http from 'node:http';

import { etcdDiscovery } from '@ballast/etcd';
import { balancer, status } from '@ballast/express';
import express from 'express';

import { closeServer, envValue, hosts, listen, onStop, run, service } from './common';

run('gateway', async () => {
  const proxy = balancer({ service, discovery: etcdDiscovery({ hosts, service }) });
  const app = express();
  app.use('/ballast', status(proxy)); // the live status page, and /ballast/snapshot.json
  app.use(proxy);
  const gateway = http.createServer(app);
  const url = await listen(gateway, Number(envValue('PORT') ?? 3000));
  console.log(`Gateway listening on ${url}, balancing "${service}" from etcd at ${hosts}
Try: curl ${url}/hello     open ${url}/ballast/ (status page)`);

  onStop(async (signal) => {
    await closeServer(gateway);
    await proxy.close();
    console.log(`${signal}: Stopped.`);
  });
});
