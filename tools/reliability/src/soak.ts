/**
 * `npm run soak`: the Express gateway (its own process, `--expose-gc`) in front of three upstream
 * processes, at a steady rate of mixed GETs and POSTs for `--minutes` (default 10) at `--rate` requests per second (default 100), with a fault
 * from faults.ts on one upstream every `--fault-every` seconds (default 60) for `--hold` seconds
 * (default 20). It measures the gateway's heap after GC 30 s in (steady state, before the first
 * fault) and again near the end (under the same traffic, every fault healed), and counts lost
 * requests (no complete response). `--quick`: one minute, a fault every 10 s held 5 s.
 *
 * Prints one JSON object: the totals, each fault's requests, the health changes it caused, and
 * both heap figures. Exits 1 if a request was lost, a GET failed, or the heap grew by over 10 %.
 */
import process from 'node:process';

import { parseArgs } from './args';
import { startChild, stopChild } from './child';
import { FAULTS } from './faults';
import { startFleet } from './fleet';
import type { GatewayMessage, GatewayReport } from './protocol';
import { percentile, startTraffic, tally, type Outcome } from './traffic';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const mib = (bytes: number) => Math.round((bytes / 1024 / 1024) * 100) / 100;

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), {
    minutes: 'number',
    rate: 'number',
    'fault-every': 'number',
    hold: 'number',
    quick: 'boolean',
  });
  const quick = args.quick === true;
  const minutes = (args.minutes as number | undefined) ?? (quick ? 1 : 10);
  const rate = (args.rate as number | undefined) ?? 100;
  const everyMs = ((args['fault-every'] as number | undefined) ?? (quick ? 10 : 60)) * 1_000;
  const holdMs = ((args.hold as number | undefined) ?? (quick ? 5 : 20)) * 1_000;
  const durationMs = minutes * 60_000;
  const heapStartAtMs = Math.min(30_000, everyMs / 2);

  const fleet = await startFleet(3);
  const { child: gateway, ready } = await startChild<GatewayMessage, GatewayReport>(
    'gateway-process.ts',
    [JSON.stringify(fleet.map((u) => ({ id: u.name, url: u.url })))],
    ['--expose-gc'],
  );
  const changes: { atMs: number; id: string; to: string }[] = [];
  const t0 = Date.now();
  gateway.onReport((report) => {
    if (report.type === 'health-change') changes.push({ atMs: report.at - t0, id: report.id, to: report.to });
  });
  const log = (msg: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}\n`);

  const traffic = startTraffic({ url: ready.url, rate, timeoutMs: 10_000 });
  const faults: { fault: string; upstream: string; fromMs: number; toMs: number }[] = [];
  let heapStart = 0;
  let heapEnd = 0;
  const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));

  await at(heapStartAtMs);
  heapStart = (await gateway.ask('heap', { type: 'heap' })).heapUsed;
  log(`heap after GC at start: ${mib(heapStart)} MiB`);
  let n = 0;
  for (let faultAt = everyMs; faultAt + holdMs + 5_000 < durationMs; faultAt += everyMs, n++) {
    await at(faultAt);
    const fault = FAULTS[n % FAULTS.length]!;
    const victim = fleet[n % fleet.length]!;
    const fromMs = Date.now() - t0;
    await fault.inject(victim);
    log(`${fault.name} on ${victim.name}`);
    await at(faultAt + holdMs);
    await fault.heal(victim);
    faults.push({ fault: fault.name, upstream: victim.name, fromMs, toMs: Date.now() - t0 });
    log(`${fault.name} on ${victim.name} healed`);
  }
  await at(durationMs - 3_000);
  heapEnd = (await gateway.ask('heap', { type: 'heap' })).heapUsed;
  log(`heap after GC at end: ${mib(heapEnd)} MiB`);
  await at(durationMs);
  const outcomes = await traffic.stop();
  await sleep(500);
  const snapshot = await gateway.ask('snapshot', { type: 'snapshot' });
  const heapIdle = (await gateway.ask('heap', { type: 'heap' })).heapUsed;
  await stopChild(gateway, { type: 'stop' });
  await sleep(200);
  const upstreamConnections = (await Promise.all(fleet.map((u) => u.stats()))).map((s) => s.connections);
  await Promise.all(fleet.map((u) => u.stop()));

  const during = (from: number, to: number) =>
    outcomes.filter((o: Outcome) => o.sentAtMs >= from && o.sentAtMs < to);
  const total = tally(outcomes);
  const growth = (heapEnd - heapStart) / heapStart;
  const result = {
    minutes,
    rate,
    total,
    p50Ms: Math.round(
      percentile(
        outcomes.map((o) => o.latencyMs),
        50,
      ),
    ),
    p99Ms: Math.round(
      percentile(
        outcomes.map((o) => o.latencyMs),
        99,
      ),
    ),
    heap: {
      startMiB: mib(heapStart),
      endMiB: mib(heapEnd),
      growthPercent: Math.round(growth * 1000) / 10,
      idleAfterMiB: mib(heapIdle),
    },
    inflightAfter: snapshot.inflight,
    statesAfter: snapshot.states,
    upstreamConnectionsAfterClose: upstreamConnections,
    faults: faults.map((f) => ({
      ...f,
      // Requests sent from the fault's start to 5 s after its end.
      requests: tally(during(f.fromMs, f.toMs + 5_000)),
      changes: changes
        .filter((c) => c.id === f.upstream && c.atMs >= f.fromMs && c.atMs < f.toMs + 10_000)
        .map((c) => `${c.to} at +${c.atMs - f.fromMs} ms`),
    })),
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const ok = total.lost === 0 && total.get.failed === 0 && Math.abs(growth) <= 0.1 && snapshot.inflight === 0;
  log(ok ? 'soak passed' : 'soak FAILED');
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
