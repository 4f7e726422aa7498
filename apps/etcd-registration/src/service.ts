// A service instance that registers itself in etcd while it runs (@ballast/etcd registerInstance).
//   node -r ./tools/sim/register.cjs apps/etcd-registration/src/service.ts
// ETCD_URL (default http://127.0.0.1:2379), SERVICE (default hello), ID (default hello-<pid>),
// PORT (default 0: any free port), TTL_SECONDS (default 5: how long a crashed instance stays listed).
// SIGTERM or Ctrl-C deregisters first (gateways stop sending), then closes the server.
import http from 'node:http';

import { registerInstance } from '@ballast/etcd';

import { closeServer, envValue, hosts, listen, onStop, run, service } from './common';

run('service', async () => {
  const id = envValue('ID') ?? `hello-${process.pid}`;
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`${JSON.stringify({ instance: id, path: req.url })}\n`);
  });
  const url = await listen(server, Number(envValue('PORT') ?? 0));

  const registration = await registerInstance({
    hosts,
    service,
    instance: { id, url, metadata: { pid: String(process.pid) } },
    ttlSeconds: Number(envValue('TTL_SECONDS') ?? 5),
  });
  console.log(`Registered ${id} at ${url} as ${registration.key} in ${hosts}`);

  onStop(async (signal) => {
    await registration.close();
    await closeServer(server);
    console.log(`${signal}: deregistered ${id}. Stopped.`);
  });
});
