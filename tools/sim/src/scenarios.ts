/**
 * The scenarios of `docs/simulation.md`. Unless a scenario says otherwise: five instances `a`..`e`,
 * each serving 8 requests at once with log-normal service times (mean 20 ms, σ = 0.6, so p99 of
 * the service time alone is about 3.4 × the mean), so each can serve 400 requests/s. Each
 * scenario runs on four seeds, pooled.
 */
import type { SizeDistribution } from './distributions';
import { NOMINAL, type Behaviour, type Scenario, type ServerSpec } from './scenario';

const IDS = ['a', 'b', 'c', 'd', 'e'] as const;
const CONCURRENCY = 8;
const SERVICE_MS = 20;
const SIZES: SizeDistribution = { kind: 'lognormal', sigma: 0.6 };
/** Requests per second one nominal instance serves at full utilisation. */
const CAPACITY_PER_SEC = (CONCURRENCY * 1000) / SERVICE_MS;
/** Seeds per scenario, pooled: enough that p99 differences of a few percent are not one seed's luck. */
const REPLICATIONS = 4;
/** Default slow-start window of the core (`health.slowStart.windowMs`). */
export const SLOW_START_WINDOW_MS = 30_000;

function pool(overrides: Partial<Record<(typeof IDS)[number], Partial<ServerSpec>>> = {}): ServerSpec[] {
  return IDS.map((id) => ({ id, concurrency: CONCURRENCY, serviceMs: SERVICE_MS, ...overrides[id] }));
}

const constant = (ratePerSec: number) => ({ ratePerSec: () => ratePerSec, maxRatePerSec: ratePerSec });

const homogeneous: Scenario = {
  name: 'homogeneous',
  title: 'Homogeneous pool',
  description:
    'Five identical instances at 70 % utilisation. Nothing is wrong: the differences are queueing ' +
    'alone, from how evenly each strategy spreads bursts of a Poisson stream.',
  durationMs: 60_000,
  ...constant(0.7 * 5 * CAPACITY_PER_SEC),
  sizes: SIZES,
  servers: pool(),
  seed: 1001,
  replications: REPLICATIONS,
};

const WEIGHTS = [1, 1, 2, 3, 5];
const heterogeneous: Scenario = {
  name: 'heterogeneous-weights',
  title: 'Heterogeneous weights',
  description:
    'Weights 1, 1, 2, 3, 5 match capacity: an instance of weight w serves 4w requests at once, ' +
    'at the same speed. Load is 70 % of the total capacity. Strategies that ignore weights ' +
    '(`round-robin`) give the small instances 20 % of the traffic each, more than the 8.3 % they ' +
    'can serve: their queues grow for the whole run.',
  durationMs: 60_000,
  ...constant(0.7 * WEIGHTS.reduce((a, b) => a + b, 0) * (CAPACITY_PER_SEC / 2)),
  sizes: SIZES,
  servers: IDS.map((id, i) => ({
    id,
    weight: WEIGHTS[i]!,
    concurrency: 4 * WEIGHTS[i]!,
    serviceMs: SERVICE_MS,
    role: `w${WEIGHTS[i]!}`,
  })),
  seed: 1002,
  replications: REPLICATIONS,
};

const slow: Scenario = {
  name: 'one-slow',
  title: 'One instance 5× slower',
  description:
    'Instance `e` takes five times as long per request, so it has a fifth of the capacity. Load ' +
    'is 16 % of the healthy capacity, low enough for round robin to stay stable: it sends `e` a ' +
    "fifth of the traffic, which keeps `e` 80 % busy. (From 20 % up, round robin's queue at `e` " +
    'grows without bound and any ratio can be had by running longer.)',
  durationMs: 300_000,
  ...constant(0.16 * 5 * CAPACITY_PER_SEC),
  sizes: SIZES,
  servers: pool({ e: { behaviour: () => SLOW_5, role: '5× slow' } }),
  seed: 1003,
  replications: REPLICATIONS,
};
const SLOW_5: Behaviour = Object.freeze({ slowdown: 5, errorRate: 0 });

const FAILING_50: Behaviour = Object.freeze({ slowdown: 1, errorRate: 0.5 });
const failing: Scenario = {
  name: 'one-failing-fast',
  title: 'One instance failing 50 % of requests fast',
  description:
    'Instance `e` answers half of its requests with a 503 after 1 ms, for the whole run. Its ' +
    'failures are quick, so it looks lightly loaded (and fast) to load-aware strategies. Load is ' +
    '60 % of the capacity. The `oracle` row never sends to `e` after its first failure: the ' +
    'floor for any passive health model. The run lasts 60 s, long enough for one ejection ' +
    '(30 s by default) to end and the instance to be tried again.',
  durationMs: 60_000,
  ...constant(0.6 * 5 * CAPACITY_PER_SEC),
  sizes: SIZES,
  servers: pool({ e: { behaviour: () => FAILING_50, role: 'fails 50 %' } }),
  seed: 1004,
  replications: REPLICATIONS,
  oracleAvoids: 'e',
};

const DOWN: Behaviour = Object.freeze({ slowdown: 1, errorRate: 1 });
const FLAP_PERIOD_MS = 10_000;
const FLAP_DOWN_MS = 4_000;
const flapping: Scenario = {
  name: 'flapping',
  title: 'Flapping instance',
  description:
    'Instance `e` is up for 6 s, then down for 4 s (every request fails after 1 ms, like a ' +
    'refused connection), again and again. Load is 60 % of the capacity of five instances, so ' +
    'the other four can carry it while `e` is down.',
  durationMs: 120_000,
  ...constant(0.6 * 5 * CAPACITY_PER_SEC),
  sizes: SIZES,
  servers: pool({
    e: {
      behaviour: (t) => (t % FLAP_PERIOD_MS >= FLAP_PERIOD_MS - FLAP_DOWN_MS ? DOWN : NOMINAL),
      role: 'flaps',
    },
  }),
  seed: 1005,
  replications: REPLICATIONS,
};

const JOIN_AT_MS = 10_000;
const COLD_SLOWDOWN = 3;
const WARM_UP_MS = 10_000;
const joining: Scenario = {
  name: 'joining',
  title: 'Instance joining a warm pool',
  description:
    `Instances \`a\`..\`d\` run at 75 % utilisation; at ${JOIN_AT_MS / 1000} s instance \`e\` ` +
    `joins through \`balancer.add()\`, cold: ${COLD_SLOWDOWN}× slower at first, warming up with a ` +
    `time constant of ${WARM_UP_MS / 1000} s (JIT, caches, connection pools). Load is 60 % of the ` +
    `five instances' capacity. The share of \`e\` is tracked in ${SLOW_START_WINDOW_MS / 10_000} s ` +
    `slices of its first ${SLOW_START_WINDOW_MS / 1000} s (the core's default slow-start window).`,
  durationMs: JOIN_AT_MS + SLOW_START_WINDOW_MS + 10_000,
  ...constant(0.6 * 5 * CAPACITY_PER_SEC),
  sizes: SIZES,
  servers: pool({
    e: {
      joinAtMs: JOIN_AT_MS,
      behaviour: (t) => ({
        slowdown: 1 + (COLD_SLOWDOWN - 1) * Math.exp(-(t - JOIN_AT_MS) / WARM_UP_MS),
        errorRate: 0,
      }),
      role: 'joins',
    },
  }),
  seed: 1006,
  replications: REPLICATIONS,
  join: { id: 'e', windowMs: SLOW_START_WINDOW_MS, subWindows: 10 },
};

const PHASE_MS = 20_000;
/** Load of each phase, as a fraction of the pool's nominal capacity. */
const PHASE_LOAD = [0.9, 0.55, 0.65, 0.9];
const phaseOf = (t: number) => Math.min(PHASE_LOAD.length - 1, Math.floor(t / PHASE_MS));
const SLOW_3: Behaviour = Object.freeze({ slowdown: 3, errorRate: 0 });
const phaseChange: Scenario = {
  name: 'phase-change',
  title: 'Phase change',
  description:
    'Four phases of 20 s. *Busy*: all instances nominal at 90 % load, where joining the shortest ' +
    'queue is what counts. *Slow node*: `b` becomes 5× slower and load drops to 55 %, where ' +
    'latency awareness is what counts. *Shift*: `b` recovers and `d` becomes 3× slower, at 65 %. ' +
    '*Busy again*: everything nominal at 90 %, where a strategy still shunning a recovered ' +
    'instance pays for it. No fixed strategy is best in every phase.',
  durationMs: PHASE_LOAD.length * PHASE_MS,
  ratePerSec: (t) => PHASE_LOAD[phaseOf(t)]! * 5 * CAPACITY_PER_SEC,
  maxRatePerSec: Math.max(...PHASE_LOAD) * 5 * CAPACITY_PER_SEC,
  sizes: SIZES,
  servers: pool({
    b: { behaviour: (t) => (phaseOf(t) === 1 ? SLOW_5 : NOMINAL), role: 'slow in 2' },
    d: { behaviour: (t) => (phaseOf(t) === 2 ? SLOW_3 : NOMINAL), role: 'slow in 3' },
  }),
  seed: 1007,
  replications: REPLICATIONS,
  phases: ['busy', 'slow node', 'shift', 'busy again'].map((label, i) => ({
    label,
    fromMs: i * PHASE_MS,
    toMs: (i + 1) * PHASE_MS,
  })),
};

export const SCENARIOS: readonly Scenario[] = [
  homogeneous,
  heterogeneous,
  slow,
  failing,
  flapping,
  joining,
  phaseChange,
];
