import type { Balancer, InstanceState } from '@ballast/core';

import type { Fault } from './faults';
import type { UpstreamProcess } from './fleet';
import { startGateway } from './gateway';
import { startTraffic, tally, type Outcome, type Tally } from './traffic';

/** What one fault run measured. */
export interface FaultReport {
  readonly fault: string;
  readonly tally: Tally;
  /** From injection to the instance's first state out of rotation, ms; undefined if it stayed in. */
  readonly detectionMs: number | undefined;
  /** The state it was taken out with (`ejected` or `unhealthy`). */
  readonly detectedAs: InstanceState | undefined;
  /** From the end of the fault until it was back in rotation, ms. */
  readonly recoveryMs: number | undefined;
  /** Requests the faulty instance answered after it was back. */
  readonly servedAfterRecovery: number;
  /** Requests the faulty instance answered during the fault (after detection). */
  readonly servedWhileOut: number;
  /** Sum of in-flight leases once the traffic stopped. */
  readonly inflightAfter: number;
  readonly outcomes: readonly Outcome[];
}

export interface FaultRunOptions {
  readonly rate: number;
  readonly warmupMs: number;
  /** How long the fault lasts. */
  readonly holdMs: number;
  /** Traffic after the instance is back. */
  readonly afterMs: number;
  /** Give up waiting for the instance to be back after this long. */
  readonly recoveryTimeoutMs: number;
}

const OUT: ReadonlySet<InstanceState> = new Set(['ejected', 'unhealthy']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stateOf(balancer: Balancer, id: string): InstanceState | undefined {
  return balancer.snapshot().instances.find((i) => i.id === id)?.state;
}

/**
 * Runs one fault through a fresh Express gateway in front of `fleet`: steady traffic, the fault on
 * `victim` after a warm-up, its end after `holdMs`, more traffic once the instance is back. Times
 * come from the balancer's `health-change` events.
 */
export async function runFault(
  fault: Fault,
  fleet: readonly UpstreamProcess[],
  victim: UpstreamProcess,
  options: FaultRunOptions,
): Promise<FaultReport & { close(): Promise<void>; balancer: Balancer }> {
  const gw = await startGateway(fleet.map((u) => ({ id: u.name, url: u.url })));
  const balancer = gw.middleware.balancer;
  const changes: { at: number; to: InstanceState }[] = [];
  balancer.on('health-change', (event) => {
    if (event.instance.id === victim.name) changes.push({ at: performance.now(), to: event.to });
  });

  const traffic = startTraffic({ url: gw.url, rate: options.rate });
  const t0 = performance.now();
  await sleep(options.warmupMs);
  const injectedAt = performance.now();
  await fault.inject(victim);
  await sleep(options.holdMs - (performance.now() - injectedAt));
  const healedAt = performance.now();
  await fault.heal(victim);

  let backAt: number | undefined;
  const deadline = healedAt + options.recoveryTimeoutMs;
  while (performance.now() < deadline) {
    const state = stateOf(balancer, victim.name);
    if (state !== undefined && !OUT.has(state)) {
      backAt = changes.filter((c) => c.at >= healedAt && !OUT.has(c.to)).at(0)?.at ?? healedAt;
      break;
    }
    await sleep(5);
  }
  await sleep(options.afterMs);
  const outcomes = await traffic.stop();

  const detected = changes.find((c) => c.at >= injectedAt && OUT.has(c.to));
  const sentAt = (o: Outcome) => t0 + o.sentAtMs;
  const served = (from: number, to: number) =>
    outcomes.filter((o) => o.upstream === victim.name && sentAt(o) >= from && sentAt(o) < to).length;
  return {
    fault: fault.name,
    tally: tally(outcomes),
    detectionMs: detected === undefined ? undefined : detected.at - injectedAt,
    detectedAs: detected?.to,
    recoveryMs: backAt === undefined ? undefined : backAt - healedAt,
    // A request sent just before the ejection may still be answered: count from 100 ms after it.
    servedWhileOut: detected === undefined ? 0 : served(detected.at + 100, healedAt),
    servedAfterRecovery: backAt === undefined ? 0 : served(backAt, Infinity),
    inflightAfter: balancer.snapshot().instances.reduce((sum, i) => sum + i.inflight, 0),
    outcomes,
    balancer,
    close: () => gw.close(),
  };
}
