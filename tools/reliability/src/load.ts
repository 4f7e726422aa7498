/**
 * `npm run load`: 10 000 concurrent keep-alive connections (`--connections`) through the Express
 * gateway (its own process) to three upstream processes on loopback. The connections are all
 * opened and accepted first, then each sends requests one after another; once every one of them
 * has had a response, a window of 30 s (`--duration`) is measured: requests, req/s, latency percentiles, errors. `--quick`: 1 000 connections, 5 s.
 * The shell wrapper raises the file-descriptor limit.
 *
 * Prints one JSON object; exits 1 on any error, non-200 response, connection closed by the
 * gateway, request left unanswered, or a lease still in flight after the run.
 */
import process from 'node:process';

import { parseArgs } from './args';
import { startChild, stopChild } from './child';
import { startFleet } from './fleet';
import { openConnections } from './load-client';
import type { GatewayMessage, GatewayReport } from './protocol';
import { percentile } from './traffic';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), {
    connections: 'number',
    duration: 'number',
    quick: 'boolean',
  });
  const quick = args.quick === true;
  const connections = (args.connections as number | undefined) ?? (quick ? 1_000 : 10_000);
  const duration = (args.duration as number | undefined) ?? (quick ? 5 : 30);
  // The upstreams answer at once: the gateway is what is measured.
  process.env.UPSTREAM_DELAY_MS ??= '0';

  const fleet = await startFleet(3);
  const { child: gateway, ready } = await startChild<GatewayMessage, GatewayReport>('gateway-process.ts', [
    JSON.stringify(fleet.map((u) => ({ id: u.name, url: u.url }))),
    // Thousands of requests queue for the pools' sockets: the fault runs' 1 s headers timeout
    // (which counts that wait) would turn the queue into 504s. Here it is the default 30 s.
    JSON.stringify({ timeoutMs: 30_000 }),
  ]);
  const client = openConnections(Number(new URL(ready.url).port), connections, '/items/1');
  try {
    const rampStart = performance.now();
    await client.open(async () => (await gateway.ask('snapshot', { type: 'snapshot' })).accepted);
    process.stderr.write(
      `${(await gateway.ask('snapshot', { type: 'snapshot' })).accepted} connections accepted in ${((performance.now() - rampStart) / 1000).toFixed(1)} s\n`,
    );
    client.go();
    while (client.stats.served < connections && performance.now() - rampStart < 180_000) await sleep(100);
    const rampSeconds = (performance.now() - rampStart) / 1000;
    process.stderr.write(
      `${client.stats.served} of ${connections} connections served in ${rampSeconds.toFixed(1)} s\n`,
    );

    client.startMeasuring();
    const windowStart = performance.now();
    await sleep(duration * 1000);
    client.stopMeasuring();
    const windowSeconds = (performance.now() - windowStart) / 1000;
    const unanswered = await client.close();

    let snapshot = await gateway.ask('snapshot', { type: 'snapshot' });
    for (let i = 0; i < 50 && snapshot.inflight > 0; i++) {
      await sleep(100);
      snapshot = await gateway.ask('snapshot', { type: 'snapshot' });
    }
    const { stats } = client;
    const requests = stats.latencies.length;
    const round = (n: number) => Math.round(n * 10) / 10;
    const result = {
      connections,
      connectionsServed: stats.served,
      rampSeconds: round(rampSeconds),
      gatewayConnectionsAccepted: snapshot.accepted,
      windowSeconds: round(windowSeconds),
      requests,
      requestsPerSecond: Math.round(requests / windowSeconds),
      latencyMs: {
        p50: round(percentile(stats.latencies, 50)),
        p90: round(percentile(stats.latencies, 90)),
        p99: round(percentile(stats.latencies, 99)),
        max: round(percentile(stats.latencies, 100)),
      },
      statuses: stats.statuses,
      errors: stats.errors,
      errorMessages: [...stats.errorMessages],
      closedByGateway: stats.closedByServer,
      unansweredAtEnd: unanswered,
      inflightAfter: snapshot.inflight,
      statesAfter: snapshot.states,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    const non200 = requests - (stats.statuses['200'] ?? 0);
    const ok =
      stats.served === connections &&
      non200 === 0 &&
      stats.errors === 0 &&
      stats.closedByServer === 0 &&
      unanswered === 0 &&
      snapshot.inflight === 0;
    process.stderr.write(ok ? 'load passed\n' : 'load FAILED\n');
    return ok ? 0 : 1;
  } finally {
    await client.close(0);
    await stopChild(gateway, { type: 'stop' });
    await Promise.all(fleet.map((u) => u.stop()));
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
