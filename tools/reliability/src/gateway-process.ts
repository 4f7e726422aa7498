/**
 * The Express gateway of the load and soak runs, in its own process so that its heap and CPU are
 * its own. Started with `--expose-gc`; argv[2] is the JSON list of instances. It reports
 * `{ type: 'ready', url }`, forwards every `health-change` event, and answers `heap` (after two
 * full collections), `snapshot` and `stop`.
 */
import process from 'node:process';

import type { ExpressProxyOptions } from '@ballast/express';

import { startGateway } from './gateway';
import type { GatewayMessage, GatewayReport } from './protocol';

const instances = JSON.parse(process.argv[2] ?? '[]') as { id: string; url: string }[];
/** Proxy options over the fault runs' defaults (gateway.ts), as JSON. */
const proxy = JSON.parse(process.argv[3] ?? '{}') as ExpressProxyOptions;
const gc = (globalThis as { gc?: () => void }).gc;

function report(message: GatewayReport): void {
  if (process.connected) process.send?.(message);
}

void startGateway(instances, { backlog: 65_535, proxy }).then((gw) => {
  const balancer = gw.middleware.balancer;
  let accepted = 0;
  gw.server.on('connection', () => (accepted += 1));
  balancer.on('health-change', (event) =>
    report({ type: 'health-change', id: event.instance.id, from: event.from, to: event.to, at: Date.now() }),
  );
  process.on('message', (message: GatewayMessage) => {
    if (message.type === 'heap') {
      gc?.();
      gc?.();
      report({ type: 'heap', heapUsed: process.memoryUsage().heapUsed, gc: gc !== undefined });
    } else if (message.type === 'snapshot') {
      const instances = balancer.snapshot().instances;
      gw.server.getConnections((_error, connections) =>
        report({
          type: 'snapshot',
          inflight: instances.reduce((sum, i) => sum + i.inflight, 0),
          states: Object.fromEntries(instances.map((i) => [i.id, i.state])),
          connections,
          accepted,
        }),
      );
    } else if (message.type === 'stop') {
      void gw.close().then(() => process.exit(0));
    }
  });
  process.on('disconnect', () => void gw.close().then(() => process.exit(0)));
  report({ type: 'ready', url: gw.url });
});
