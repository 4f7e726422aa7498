/**
 * The discrete-event engine. One run drives one real `@ballast/core` balancer through one
 * scenario: Poisson arrivals call `balancer.pick()`, the picked server serves the request (or
 * queues it behind its concurrency limit), and at the virtual completion time the lease is
 * released with the outcome and the client-observed latency (queueing + service). The
 * balancer's clock is the virtual clock, so its EWMAs, decays and health recovery see simulated
 * time exactly as they would see real time.
 *
 * Three seeded streams keep runs reproducible and comparable: arrivals, request attributes
 * (size, failure draw, affinity key) and the balancer's `random`. The first two are consumed in
 * arrival order only, so every strategy faces the very same requests.
 */
import {
  BallastError,
  createBalancer,
  seededRandom,
  type Balancer,
  type HealthOptions,
  type InstanceConfig,
  type Lease,
  type StrategyOption,
} from '@ballast/core';
import { drawSize, exponentialGap } from './distributions';
import { EventQueue } from './event-queue';
import type { Scenario, ServerSpec } from './scenario';
import { Samples, Server, type Job } from './server';

/** Distinct affinity keys for `consistent-hash`. */
const KEY_SPACE = 10_000;

export interface RunOptions {
  readonly scenario: Scenario;
  readonly strategy: StrategyOption;
  /** Pass a random affinity key with every pick (for `consistent-hash`). */
  readonly keyed?: boolean;
  /** Which replication of the scenario: replication k runs on seed `scenario.seed + k × 1 000 000`. Default 0. */
  readonly replica?: number;
  /** The balancer's `health` option. Default: the core's defaults. */
  readonly health?: HealthOptions;
  /** Called with the balancer before the first arrival, to subscribe to its events. */
  readonly observe?: (balancer: Balancer, clock: () => number) => void;
}

/** Per-instance figures of one run, in the scenario's server order. */
export interface InstanceResult {
  readonly id: string;
  /** Requests the balancer sent to this instance. */
  readonly picks: number;
  /** Time-averaged in-flight requests (queued + in service) while present, divided by weight. */
  readonly loadPerWeight: number;
}

export interface JoinResult {
  /** Picks of the joining instance and of the whole pool in each sub-window after the join. */
  readonly picks: readonly number[];
  readonly total: readonly number[];
  /** The instance's fair share of picks after it joins (its weight over the pool's). */
  readonly fairShare: number;
  /** Whether the core reported the instance in `slow-start` right after `add()`. */
  readonly slowStartSeen: boolean;
}

export interface RunResult {
  readonly arrivals: number;
  /** Requests that completed, successfully or not. */
  readonly completed: number;
  /** Completed requests whose outcome was a failure. */
  readonly failed: number;
  /** Arrivals for which `pick()` threw `BALLAST_NO_INSTANCE`. */
  readonly rejected: number;
  /** Client-observed latency of each successful request, ms, sorted ascending. */
  readonly latencies: Float64Array;
  /** Latency per phase (sorted), by the phase's label, for scenarios with phases. */
  readonly phaseLatencies: ReadonlyMap<string, Float64Array>;
  readonly instances: readonly InstanceResult[];
  /** Times an instance left the pool: `health-change` events to `unhealthy` or `ejected`. */
  readonly takenOut: number;
  /** `eject` events. */
  readonly ejections: number;
  /** `strategy-change` events (adaptive). */
  readonly strategyChanges: number;
  readonly join: JoinResult | undefined;
  /** Sum of every instance's in-flight count after the run drained (0 if leases are conserved). */
  readonly inflightAtEnd: number;
  /** Virtual time of the last event, ms. */
  readonly endMs: number;
}

type Event =
  | { readonly kind: 'arrival' }
  | { readonly kind: 'done'; readonly job: Job; readonly server: Server }
  | { readonly kind: 'join'; readonly spec: ServerSpec };

const ARRIVAL: Event = { kind: 'arrival' };

export function instanceConfig(spec: ServerSpec, index: number): InstanceConfig {
  return { id: spec.id, url: `http://10.0.0.${index + 1}:8080`, weight: spec.weight ?? 1 };
}

/** Runs one strategy through one scenario. Deterministic: same inputs, same result. */
export function simulate({
  scenario,
  strategy,
  keyed = false,
  replica = 0,
  health,
  observe,
}: RunOptions): RunResult {
  let now = 0;
  const seed = scenario.seed + replica * 1_000_000;
  const arrivalRandom = seededRandom(seed);
  const requestRandom = seededRandom(seed ^ 0x5bd1e995);
  const initial = scenario.servers.filter((s) => s.joinAtMs === undefined);
  const balancer: Balancer = createBalancer({
    service: scenario.name,
    strategy,
    ...(health === undefined ? {} : { health }),
    instances: initial.map((spec) => instanceConfig(spec, scenario.servers.indexOf(spec))),
    clock: () => now,
    random: seededRandom(seed ^ 0x27d4eb2f),
  });

  let takenOut = 0;
  let ejections = 0;
  let strategyChanges = 0;
  balancer.on('health-change', (e) => {
    if (e.to === 'unhealthy' || e.to === 'ejected') takenOut += 1;
  });
  balancer.on('eject', () => (ejections += 1));
  balancer.on('strategy-change', () => (strategyChanges += 1));
  observe?.(balancer, () => now);

  const servers = new Map<string, Server>();
  const queue = new EventQueue<Event>();
  for (const spec of initial) servers.set(spec.id, new Server(spec, 0));
  for (const spec of scenario.servers) {
    if (spec.joinAtMs !== undefined) queue.push(spec.joinAtMs, { kind: 'join', spec });
  }

  const join = scenario.join;
  const joinPicks = new Array<number>(join?.subWindows ?? 0).fill(0);
  const joinTotal = new Array<number>(join?.subWindows ?? 0).fill(0);
  let joinedAtMs = -1;
  let slowStartSeen = false;
  const joinSpec = join && scenario.servers.find((s) => s.id === join.id);
  const fairShare =
    joinSpec === undefined
      ? 0
      : (joinSpec.weight ?? 1) / scenario.servers.reduce((sum, s) => sum + (s.weight ?? 1), 0);

  const latencies = new Samples();
  const phases = scenario.phases ?? [];
  const phaseSamples = phases.map(() => new Samples());
  const picks = new Map<string, number>(scenario.servers.map((s) => [s.id, 0]));
  let arrivals = 0;
  let completed = 0;
  let failed = 0;
  let rejected = 0;

  const maxRatePerMs = scenario.maxRatePerSec / 1000;
  const nextArrival = (from: number): void => {
    // Thinning (Lewis and Shedler): candidates at the peak rate, each kept with probability
    // rate(t) / peak, give a Poisson process with the time-varying rate.
    let t = from;
    for (;;) {
      t += exponentialGap(maxRatePerMs, arrivalRandom);
      if (t >= scenario.durationMs) return;
      if (arrivalRandom() * scenario.maxRatePerSec < scenario.ratePerSec(t)) break;
    }
    queue.push(t, ARRIVAL);
  };

  const start = (server: Server, job: Job): void => {
    server.busy += 1;
    const behaviour = server.behaviour(now);
    job.ok = job.failDraw >= behaviour.errorRate;
    const serviceMs = job.ok ? job.size * server.spec.serviceMs * behaviour.slowdown : server.failMs;
    queue.push(now + serviceMs, { kind: 'done', job, server });
  };

  const arrive = (): void => {
    arrivals += 1;
    // Drawn whatever the strategy, so that every run consumes the streams alike.
    const size = drawSize(scenario.sizes, requestRandom);
    const failDraw = requestRandom();
    const key = Math.floor(requestRandom() * KEY_SPACE);
    let lease: Lease;
    try {
      lease = balancer.pick(keyed ? { key: `user-${key}` } : undefined);
    } catch (error) {
      if (error instanceof BallastError && error.code === 'BALLAST_NO_INSTANCE') {
        rejected += 1;
        return;
      }
      throw error;
    }
    const id = lease.instance.id;
    const server = servers.get(id);
    if (server === undefined) throw new Error(`balancer picked unknown instance ${id}`);
    picks.set(id, picks.get(id)! + 1);
    if (joinedAtMs >= 0 && join !== undefined) {
      const slot = Math.floor(((now - joinedAtMs) / join.windowMs) * join.subWindows);
      if (slot < join.subWindows) {
        joinTotal[slot]! += 1;
        if (id === join.id) joinPicks[slot]! += 1;
      }
    }
    const job: Job = { arrivalMs: now, size, failDraw, lease, ok: true };
    server.account(now);
    if (server.busy < server.spec.concurrency) start(server, job);
    else server.enqueue(job);
  };

  const finish = (job: Job, server: Server): void => {
    server.account(now);
    server.busy -= 1;
    const latencyMs = now - job.arrivalMs;
    completed += 1;
    if (job.ok) {
      latencies.push(latencyMs);
      for (let p = 0; p < phases.length; p++) {
        const phase = phases[p]!;
        if (job.arrivalMs >= phase.fromMs && job.arrivalMs < phase.toMs) phaseSamples[p]!.push(latencyMs);
      }
    } else {
      failed += 1;
    }
    job.lease.release({ ok: job.ok, status: job.ok ? 200 : 503, latencyMs });
    const next = server.dequeue();
    if (next !== undefined) start(server, next);
  };

  nextArrival(0);
  for (;;) {
    const event = queue.pop();
    if (event === undefined) break;
    now = event.time;
    const value = event.value;
    if (value.kind === 'arrival') {
      arrive();
      nextArrival(now);
    } else if (value.kind === 'done') {
      finish(value.job, value.server);
    } else {
      const spec = value.spec;
      servers.set(spec.id, new Server(spec, now));
      const instance = balancer.add(instanceConfig(spec, scenario.servers.indexOf(spec)));
      if (spec.id === join?.id) {
        joinedAtMs = now;
        slowStartSeen = instance.state === 'slow-start' || instance.effectiveWeight < instance.weight;
      }
    }
  }

  const instances: InstanceResult[] = scenario.servers.map((spec) => {
    const server = servers.get(spec.id);
    server?.account(now);
    return {
      id: spec.id,
      picks: picks.get(spec.id)!,
      loadPerWeight: server === undefined ? 0 : server.meanInflight(now) / (spec.weight ?? 1),
    };
  });
  const inflightAtEnd = balancer.snapshot().instances.reduce((sum, i) => sum + i.inflight, 0);
  balancer.close();

  return {
    arrivals,
    completed,
    failed,
    rejected,
    latencies: latencies.sorted(),
    phaseLatencies: new Map(phases.map((phase, p) => [phase.label, phaseSamples[p]!.sorted()])),
    instances,
    takenOut,
    ejections,
    strategyChanges,
    join: join === undefined ? undefined : { picks: joinPicks, total: joinTotal, fairShare, slowStartSeen },
    inflightAtEnd,
    endMs: now,
  };
}
