/**
 * Random-command tests of `createBalancer`: fast-check draws a pool and a sequence of picks,
 * releases (first and repeated), adds, removes, updates, active-check reports and clock moves,
 * runs it against a real balancer (seeded random, hand-moved clock) for every built-in strategy
 * and after every command compares it with a small model of what must hold whatever the strategy:
 *
 * - in-flight counts are exact (one per unreleased lease), released counts too, never negative;
 *   removed instances with leases drain and vanish from `snapshot()` with their last lease;
 * - a pick never returns an excluded, non-matching or removed instance, nor one outside the pool
 *   (healthy or slow-starting instances; in panic every instance not ejected, or none with
 *   `failOnPanic`), and throws `BALLAST_NO_INSTANCE` exactly when no instance is eligible;
 * - a second release of a lease changes nothing;
 * - health (and the other averages) stays in range whatever latency a caller reports;
 * - listeners and a logger that throw never break a pick or a release.
 *
 * The health options (threshold, panic, outlier ejection, slow start) are drawn too, so instances
 * go unhealthy, get ejected, recover and ramp up while leases are held.
 */
import fc from 'fast-check';
import {
  BallastError,
  InvalidConfigError,
  createBalancer,
  seededRandom,
  type Balancer,
  type Instance,
  type InstanceConfig,
  type InstancePatch,
  type Lease,
  type Outcome,
  type PickContext,
  type StrategyOption,
  STRATEGY_NAMES,
} from '../src';
import { STATE_EVENTS } from './helpers';

const STRATEGIES = STRATEGY_NAMES;
type BuiltinName = (typeof STRATEGIES)[number];

const ZONES = ['eu-1', 'eu-2', 'us-1'] as const;
const REGIONS = ['north', 'south'] as const;
const TIERS = ['gold', 'iron'] as const;
/** Instances are numbered 0..ID_SPACE-1, so adds collide with live and draining ids now and then. */
const ID_SPACE = 40;

/** Cheaper than `expect` in loops that run a few hundred thousand times per file. */
function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

// ---------------------------------------------------------------------------------------------
// Generators

const weightArb = fc.oneof(
  fc.integer({ min: 1, max: 10 }),
  fc.double({ min: 0.01, max: 100, noNaN: true }),
  fc.constantFrom(0.5, 1.5, 2.25, 1e-3, 1e6),
);

const metadataArb = fc.record(
  { region: fc.constantFrom(...REGIONS), tier: fc.constantFrom(...TIERS) },
  { requiredKeys: [] },
);

interface InstanceSpec {
  readonly n: number;
  /** With an explicit id, or identified by its URL's origin. */
  readonly explicitId: boolean;
  readonly weight: number;
  readonly zone: string | undefined;
  readonly metadata: Record<string, string> | undefined;
}

const instanceSpecArb: fc.Arbitrary<InstanceSpec> = fc.record({
  n: fc.integer({ min: 0, max: ID_SPACE - 1 }),
  explicitId: fc.boolean(),
  weight: weightArb,
  zone: fc.option(fc.constantFrom(...ZONES), { nil: undefined }),
  metadata: fc.option(metadataArb, { nil: undefined }),
});

function idOf(spec: InstanceSpec): string {
  return spec.explicitId ? `i${spec.n}` : `http://10.0.${spec.n}.1:8080`;
}

function inputOf(spec: InstanceSpec): InstanceConfig {
  return {
    ...(spec.explicitId ? { id: `i${spec.n}` } : {}),
    url: `http://10.0.${spec.n}.1:8080/api`,
    weight: spec.weight,
    ...(spec.zone === undefined ? {} : { zone: spec.zone }),
    ...(spec.metadata === undefined ? {} : { metadata: spec.metadata }),
  };
}

const matchArb = fc.record(
  { zone: fc.constantFrom(...ZONES), region: fc.constantFrom(...REGIONS), tier: fc.constantFrom(...TIERS) },
  { requiredKeys: [] },
);

/** Latencies a caller may report, including ones the balancer must not trust. */
const latencyArb = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: 0, max: 10_000, noNaN: true }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      Number.NaN,
      -1,
      -0,
      -1e-9,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
    ),
  },
);

/** Mostly well-formed outcomes, with or without a latency; now and then what a JS caller might pass. */
const outcomeArb: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.record(
      {
        ok: fc.boolean(),
        latencyMs: latencyArb,
        load: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(Number.NaN, -1, 2)),
      },
      { requiredKeys: ['ok'] },
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, {}, { ok: 'yes' }, { ok: 1, latencyMs: 'fast' }) },
);

type Command =
  | {
      readonly kind: 'pick';
      /** Indexes into the live ids (a multiple of 5 plus 4 names an id that does not exist). */
      readonly exclude: readonly number[];
      readonly excludeAs: 'none' | 'array' | 'set';
      readonly match: Record<string, string> | undefined;
      readonly key: string | undefined;
    }
  | { readonly kind: 'release'; readonly which: number; readonly outcome: unknown }
  | { readonly kind: 'release-again'; readonly which: number; readonly outcome: unknown }
  | { readonly kind: 'add'; readonly spec: InstanceSpec }
  | { readonly kind: 'remove'; readonly which: number; readonly ghost: boolean }
  | {
      readonly kind: 'update';
      readonly which: number;
      readonly ghost: boolean;
      readonly patch: InstancePatch;
    }
  | { readonly kind: 'check'; readonly which: number; readonly ghost: boolean; readonly ok: boolean }
  | { readonly kind: 'advance'; readonly ms: number };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant('pick' as const),
      exclude: fc.array(fc.nat({ max: 60 }), { maxLength: 6 }),
      excludeAs: fc.constantFrom('none' as const, 'array' as const, 'set' as const),
      match: fc.oneof({ weight: 7, arbitrary: fc.constant(undefined) }, { weight: 3, arbitrary: matchArb }),
      key: fc.option(fc.constantFrom('user-1', 'user-2', 'user-3', 'session-9', ''), { nil: undefined }),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('release' as const), which: fc.nat(), outcome: outcomeArb }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('release-again' as const),
      which: fc.nat(),
      outcome: outcomeArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('add' as const), spec: instanceSpecArb }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('remove' as const),
      which: fc.nat(),
      ghost: fc.constantFrom(false, false, false, false, false, false, false, false, false, true),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('update' as const),
      which: fc.nat(),
      ghost: fc.constantFrom(false, false, false, false, true),
      patch: fc.record(
        { weight: weightArb, zone: fc.constantFrom(...ZONES), metadata: metadataArb },
        { requiredKeys: [] },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('check' as const),
      which: fc.nat(),
      ghost: fc.constantFrom(false, false, false, true),
      ok: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 500, max: 40_000 })),
    }),
  },
);

interface Setup {
  readonly seed: number;
  readonly startMs: number;
  readonly health: {
    readonly threshold: number;
    readonly panicThreshold: number;
    readonly failOnPanic: boolean;
    readonly window: number;
    readonly recoveryHalfLifeMs: number;
    readonly latencyFactor: number;
    readonly outlier: false | Record<string, number>;
    readonly slowStart: false | Record<string, number>;
  };
  /** Throwing listeners on every event and a throwing logger. */
  readonly hostileHooks: boolean;
  /** weighted-round-robin: small values send the pool through the EDF path. */
  readonly smoothMaxInstances: number;
  /** consistent-hash: a small table keeps the Maglev rebuilds (on every membership change) fast. */
  readonly tableSize: number;
  /** adaptive: short intervals and low thresholds, so it does switch within a run. */
  readonly adaptive: {
    readonly sampleIntervalMs: number;
    readonly minDwellMs: number;
    readonly enterLatencyCv: number;
  };
}

const outlierArb = fc
  .record({
    consecutiveFailures: fc.integer({ min: 0, max: 6 }),
    intervalMs: fc.integer({ min: 100, max: 20_000 }),
    baseEjectionMs: fc.integer({ min: 100, max: 30_000 }),
    extraEjectionMs: fc.integer({ min: 0, max: 60_000 }),
    maxEjectionPercent: fc.integer({ min: 0, max: 100 }),
  })
  .map(({ extraEjectionMs, ...rest }) => ({ ...rest, maxEjectionMs: rest.baseEjectionMs + extraEjectionMs }));

const setupArb: fc.Arbitrary<Setup> = fc.record({
  seed: fc.integer(),
  startMs: fc.integer({ min: 0, max: 1e9 }),
  health: fc.record({
    threshold: fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })),
    panicThreshold: fc.oneof(fc.constantFrom(0, 0.5, 1), fc.double({ min: 0, max: 1, noNaN: true })),
    failOnPanic: fc.boolean(),
    window: fc.integer({ min: 1, max: 20 }),
    recoveryHalfLifeMs: fc.integer({ min: 50, max: 20_000 }),
    latencyFactor: fc.double({ min: 1, max: 5, noNaN: true }),
    outlier: fc.oneof(fc.constant(false as const), outlierArb),
    slowStart: fc.oneof(
      fc.constant(false as const),
      fc.record({
        windowMs: fc.integer({ min: 100, max: 30_000 }),
        aggression: fc.double({ min: 0.25, max: 4, noNaN: true }),
        minWeightPercent: fc.integer({ min: 1, max: 100 }),
      }),
    ),
  }),
  hostileHooks: fc.boolean(),
  smoothMaxInstances: fc.integer({ min: 1, max: 40 }),
  tableSize: fc.integer({ min: 1, max: 400 }),
  adaptive: fc.record({
    sampleIntervalMs: fc.integer({ min: 1, max: 2_000 }),
    minDwellMs: fc.integer({ min: 0, max: 5_000 }),
    enterLatencyCv: fc.double({ min: 0.05, max: 1, noNaN: true }),
  }),
});

const scenarioArb = fc.record({
  setup: setupArb,
  pool: fc.uniqueArray(instanceSpecArb, { minLength: 1, maxLength: 30, selector: idOf, size: 'max' }),
  commands: fc.array(commandArb, { maxLength: 80, size: 'max' }),
  /** Outcomes for the final release of every lease still held, used in turn. */
  finalOutcomes: fc.array(outcomeArb, { minLength: 1, maxLength: 5 }),
});

function strategyOption(name: BuiltinName, setup: Setup): StrategyOption {
  if (name === 'weighted-round-robin') return { name, smoothMaxInstances: setup.smoothMaxInstances };
  if (name === 'consistent-hash') return { name, tableSize: setup.tableSize };
  if (name === 'adaptive')
    return { name, ...setup.adaptive, exitLatencyCv: setup.adaptive.enterLatencyCv / 2 };
  return name;
}

// ---------------------------------------------------------------------------------------------
// The model

function throwing(): never {
  throw new Error('hostile hook');
}

/** Whether an instance carries every pair of `match` (`zone` is matched against the zone). */
function matches(instance: Instance, match: Readonly<Record<string, string>> | undefined): boolean {
  if (match === undefined) return true;
  for (const [key, want] of Object.entries(match)) {
    // An undefined value constrains nothing (the documented meaning of `match: { zone: undefined }`).
    if (want === undefined) continue;
    const have =
      key === 'zone'
        ? instance.zone
        : Object.hasOwn(instance.metadata, key)
          ? instance.metadata[key]
          : undefined;
    if (have !== want) return false;
  }
  return true;
}

function isBallastError(error: unknown, code: string): error is BallastError {
  return error instanceof BallastError && error.code === code;
}

interface Tally {
  /** Leases picked on this instance object and not yet released. */
  outstanding: number;
  /** Leases released (the first time) on this instance object. */
  released: number;
}

class Harness {
  now: number;
  readonly balancer: Balancer;
  /** What should be live, by id: the very objects the balancer handed out. */
  readonly live = new Map<string, Instance>();
  /** Instances removed from the model; those with leases left must be draining. */
  readonly removed = new Set<Instance>();
  readonly tally = new Map<Instance, Tally>();
  readonly outstanding: Lease[] = [];
  readonly released: Lease[] = [];
  picks = 0;
  firstReleases = 0;
  pickEvents = 0;
  releaseEvents = 0;

  constructor(
    name: BuiltinName,
    readonly setup: Setup,
    pool: readonly InstanceSpec[],
  ) {
    this.now = setup.startMs;
    this.balancer = createBalancer({
      service: 'svc',
      instances: pool.map(inputOf),
      strategy: strategyOption(name, setup),
      health: setup.health,
      clock: () => this.now,
      random: seededRandom(setup.seed),
      ...(setup.hostileHooks
        ? { logger: { debug: throwing, info: throwing, warn: throwing, error: throwing } }
        : {}),
    });
    if (setup.hostileHooks) {
      for (const event of STATE_EVENTS) this.balancer.on(event, throwing);
      // Registered after the throwing ones: they must still run.
      this.balancer.on('pick', () => void (this.pickEvents += 1));
      this.balancer.on('release', () => void (this.releaseEvents += 1));
    }
    for (const instance of this.balancer.instances()) this.track(instance);
    expect([...this.live.keys()].sort()).toEqual(pool.map(idOf).sort());
  }

  private track(instance: Instance): void {
    this.live.set(instance.id, instance);
    this.tally.set(instance, { outstanding: 0, released: 0 });
  }

  private liveIds(): string[] {
    return [...this.live.keys()];
  }

  run(command: Command): void {
    switch (command.kind) {
      case 'pick':
        return this.pick(command);
      case 'release': {
        if (this.outstanding.length === 0) return;
        const [lease] = this.outstanding.splice(command.which % this.outstanding.length, 1);
        return this.release(lease!, command.outcome);
      }
      case 'release-again': {
        if (this.released.length === 0) return;
        return this.releaseAgain(this.released[command.which % this.released.length]!, command.outcome);
      }
      case 'add':
        return this.add(command.spec);
      case 'remove':
        return this.remove(command.which, command.ghost);
      case 'update':
        return this.update(command.which, command.ghost, command.patch);
      case 'check':
        return this.reportCheck(command.which, command.ghost, command.ok);
      case 'advance':
        this.now += command.ms;
        return;
    }
  }

  private pick(command: Extract<Command, { kind: 'pick' }>): void {
    const ids = this.liveIds();
    const excluded = command.exclude.map((i) =>
      i % 5 === 4 || ids.length === 0 ? `ghost-${i}` : ids[i % ids.length]!,
    );
    const ctx: { key?: string; exclude?: Iterable<string>; match?: Record<string, string> } = {};
    if (command.key !== undefined) ctx.key = command.key;
    if (command.match !== undefined) ctx.match = command.match;
    if (command.excludeAs === 'array') ctx.exclude = excluded;
    if (command.excludeAs === 'set') ctx.exclude = new Set(excluded);
    const excludedSet = new Set(command.excludeAs === 'none' ? [] : excluded);

    let lease: Lease | undefined;
    let error: unknown;
    try {
      lease = this.balancer.pick(ctx as PickContext);
    } catch (e) {
      error = e;
    }
    // Read after the pick: a pick first runs the maintenance that recovers scores and ends ejections.
    const pool = this.pool();
    const eligible = pool.filter((m) => !excludedSet.has(m.id) && matches(m, command.match));

    if (lease === undefined) {
      check(
        isBallastError(error, 'BALLAST_NO_INSTANCE'),
        () => `pick threw something else: ${String(error)}`,
      );
      check(
        eligible.length === 0,
        () => `pick threw BALLAST_NO_INSTANCE but ${eligible.map((m) => m.id).join(', ')} were eligible`,
      );
      return;
    }
    const chosen = lease.instance;
    check(eligible.includes(chosen), () => {
      const why =
        !this.live.has(chosen.id) || this.live.get(chosen.id) !== chosen
          ? 'a removed instance'
          : excludedSet.has(chosen.id)
            ? 'an excluded instance'
            : !matches(chosen, command.match)
              ? `an instance that does not match ${JSON.stringify(command.match)}`
              : `an instance outside the pool (state ${chosen.state}, panic ${String(this.balancer.snapshot().panic)})`;
      return `pick returned ${why}: ${chosen.id}`;
    });
    check(
      lease.startedAt === this.now,
      () => `lease.startedAt ${lease.startedAt} is not the clock's ${this.now}`,
    );
    this.tally.get(chosen)!.outstanding += 1;
    this.outstanding.push(lease);
    this.picks += 1;
  }

  /**
   * The instances a pick may choose from, by the health tracker's rule: healthy and slow-starting
   * ones; in panic (fewer than `panicThreshold` of them) every one not ejected, or none with
   * `failOnPanic`.
   */
  private pool(): Instance[] {
    const live = this.balancer.instances();
    const serving = live.filter((m) => m.state === 'healthy' || m.state === 'slow-start');
    const { panicThreshold, failOnPanic } = this.setup.health;
    const panic = live.length > 0 && serving.length < panicThreshold * live.length;
    check(
      this.balancer.snapshot().panic === panic,
      () => `snapshot().panic is ${String(!panic)} with ${serving.length} of ${live.length} serving`,
    );
    if (!panic) return serving;
    return failOnPanic ? [] : live.filter((m) => m.state !== 'ejected');
  }

  release(lease: Lease, outcome: unknown): void {
    lease.release(outcome as Outcome);
    const tally = this.tally.get(lease.instance)!;
    tally.outstanding -= 1;
    tally.released += 1;
    this.released.push(lease);
    this.firstReleases += 1;
  }

  private releaseAgain(lease: Lease, outcome: unknown): void {
    const instance = lease.instance;
    const before = {
      inflight: instance.inflight,
      requests: instance.requests,
      health: instance.health,
      failures: instance.failures,
    };
    lease.release(outcome as Outcome);
    lease.release({ ok: false });
    const after = {
      inflight: instance.inflight,
      requests: instance.requests,
      health: instance.health,
      failures: instance.failures,
    };
    expect(after).toEqual(before);
  }

  private add(spec: InstanceSpec): void {
    const id = idOf(spec);
    if (this.live.has(id)) {
      let error: unknown;
      try {
        this.balancer.add(inputOf(spec));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field).toBe('instance.id');
      return;
    }
    const instance = this.balancer.add(inputOf(spec));
    expect(instance.id).toBe(id);
    expect(this.balancer.get(id)).toBe(instance);
    expect(instance.inflight).toBe(0);
    this.track(instance);
  }

  private remove(which: number, ghost: boolean): void {
    const ids = this.liveIds();
    if (ghost || ids.length === 0) {
      expect(this.balancer.remove(`ghost-${which}`)).toBe(false);
      return;
    }
    const id = ids[which % ids.length]!;
    const instance = this.live.get(id)!;
    expect(this.balancer.remove(id)).toBe(true);
    expect(this.balancer.remove(id)).toBe(false);
    this.live.delete(id);
    this.removed.add(instance);
    expect(this.balancer.get(id)).toBeUndefined();
    if (this.tally.get(instance)!.outstanding > 0) expect(instance.state).toBe('draining');
  }

  private update(which: number, ghost: boolean, patch: InstancePatch): void {
    const ids = this.liveIds();
    if (ghost || ids.length === 0) {
      expect(() => this.balancer.update(`ghost-${which}`, patch)).toThrow(InvalidConfigError);
      return;
    }
    const id = ids[which % ids.length]!;
    const instance = this.live.get(id)!;
    const before = {
      weight: instance.weight,
      zone: instance.zone,
      metadata: { ...instance.metadata },
      health: instance.health,
    };
    expect(this.balancer.update(id, patch)).toBe(instance);
    expect(instance.weight).toBe(patch.weight ?? before.weight);
    expect(instance.zone).toBe(patch.zone ?? before.zone);
    expect({ ...instance.metadata }).toEqual({ ...(patch.metadata ?? before.metadata) });
    // An update keeps what the instance has learned.
    expect(instance.health).toBe(before.health);
  }

  private reportCheck(which: number, ghost: boolean, ok: boolean): void {
    const ids = this.liveIds();
    // An unknown id is ignored.
    this.balancer.reportCheck(ghost || ids.length === 0 ? `ghost-${which}` : ids[which % ids.length]!, ok);
  }

  /** Everything that must hold between any two commands. */
  checkInvariants(): void {
    const { balancer, setup } = this;
    const instances = balancer.instances();
    check(
      instances.length === this.live.size,
      () => `instances() has ${instances.length}, expected ${this.live.size}`,
    );
    for (const instance of instances) {
      check(
        this.live.get(instance.id) === instance,
        () => `instances() lists ${instance.id}, which the model does not have live`,
      );
      check(balancer.get(instance.id) === instance, () => `get(${instance.id}) is not the listed instance`);
      const { state, health } = instance;
      const { threshold } = setup.health;
      // Below the threshold an instance is always out; above it, an instance that was out stays
      // out until maintenance or a passed check lets it back (hysteresis), so only one direction
      // is an invariant between commands.
      check(
        state === 'ejected' || health >= threshold || state === 'unhealthy',
        () => `${instance.id}: state ${state} with health ${health}, threshold ${threshold}`,
      );
    }
    for (const [instance, tally] of this.tally) {
      check(
        instance.inflight === tally.outstanding,
        () => `${instance.id}: inflight ${instance.inflight}, unreleased leases ${tally.outstanding}`,
      );
      check(instance.inflight >= 0, () => `${instance.id}: negative inflight ${instance.inflight}`);
      check(
        instance.requests === tally.released,
        () => `${instance.id}: requests ${instance.requests}, released leases ${tally.released}`,
      );
    }
    for (const instance of this.removed) {
      if (this.tally.get(instance)!.outstanding > 0)
        check(
          instance.state === 'draining',
          () => `${instance.id}: removed with leases but ${instance.state}`,
        );
    }

    // snapshot(): the live instances, then the removed ones still holding leases, and nothing else.
    const snapshot = balancer.snapshot();
    const expected = [
      ...instances.map((m) => `${m.id} inflight=${this.tally.get(m)!.outstanding} live`),
      ...[...this.removed]
        .filter((m) => this.tally.get(m)!.outstanding > 0)
        .map((m) => `${m.id} inflight=${this.tally.get(m)!.outstanding} draining`),
    ].sort();
    const actual = snapshot.instances
      .map((s) => `${s.id} inflight=${s.inflight} ${s.state === 'draining' ? 'draining' : 'live'}`)
      .sort();
    check(
      JSON.stringify(actual) === JSON.stringify(expected),
      () => `snapshot ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
    );
    for (const s of snapshot.instances) {
      check(s.health >= 0 && s.health <= 1, () => `${s.id}: health ${s.health} outside [0, 1]`);
      check(
        s.successRate >= 0 && s.successRate <= 1,
        () => `${s.id}: successRate ${s.successRate} outside [0, 1]`,
      );
      check(Number.isFinite(s.latencyMs) && s.latencyMs >= 0, () => `${s.id}: latencyMs ${s.latencyMs}`);
      check(
        s.failures >= 0 && s.failures <= s.requests,
        () => `${s.id}: ${s.failures} failures of ${s.requests} requests`,
      );
    }

    if (setup.hostileHooks) {
      check(this.pickEvents === this.picks, () => `${this.pickEvents} pick events for ${this.picks} picks`);
      check(
        this.releaseEvents === this.firstReleases,
        () => `${this.releaseEvents} release events for ${this.firstReleases} releases`,
      );
    }
  }
}

describe.each(STRATEGIES)('createBalancer with strategy %s under random commands', (name) => {
  it('keeps in-flight counts exact, picks only eligible instances, ignores double releases and keeps health in [0, 1]', () => {
    fc.assert(
      fc.property(scenarioArb, ({ setup, pool, commands, finalOutcomes }) => {
        const harness = new Harness(name, setup, pool);
        harness.checkInvariants();
        for (const command of commands) {
          harness.run(command);
          harness.checkInvariants();
        }

        // Release every lease still held: nothing is in flight, and draining instances are gone.
        let i = 0;
        while (harness.outstanding.length > 0) {
          harness.release(harness.outstanding.pop()!, finalOutcomes[i++ % finalOutcomes.length]);
          harness.checkInvariants();
        }
        const snapshot = harness.balancer.snapshot();
        expect(snapshot.instances.map((s) => s.inflight).filter((n) => n !== 0)).toEqual([]);
        expect(snapshot.instances.filter((s) => s.state === 'draining')).toEqual([]);
        expect(snapshot.instances.map((s) => s.id).sort()).toEqual([...harness.live.keys()].sort());
        for (const instance of harness.removed) expect(instance.inflight).toBe(0);

        harness.balancer.close();
        let error: unknown;
        try {
          harness.balancer.pick();
        } catch (e) {
          error = e;
        }
        expect(isBallastError(error, 'BALLAST_CLOSED')).toBe(true);
      }),
      { numRuns: 60 },
    );
  });
});

describe('pick({ match })', () => {
  // `match` is typed Record<string, string>, but JS callers build it from optional fields
  // (`{ zone: req.headers['x-zone'] }`) and get `undefined` values, which constrain nothing.
  // Sub-pools are cached by JSON.stringify(match), which drops undefined values: whatever the
  // rule, the answer for a match must not depend on which matches were asked before. (It once
  // did: `{ zone: undefined }` read as "no zone" unless `{}` had been asked first.)
  it('admits the same instances for a match whatever matches came before (undefined values included)', () => {
    const looseMatchArb = fc.dictionary(
      fc.constantFrom('zone', 'region'),
      fc.constantFrom<string | undefined>('eu-1', 'north', undefined),
      { maxKeys: 2, noNullPrototype: true },
    );
    fc.assert(
      fc.property(
        fc.uniqueArray(instanceSpecArb, { minLength: 1, maxLength: 8, selector: idOf }),
        fc.array(looseMatchArb, { minLength: 1, maxLength: 6 }),
        (pool, sequence) => {
          const balancer = createBalancer({
            instances: pool.map(inputOf),
            strategy: 'round-robin',
            clock: () => 0,
          });
          for (const match of sequence) {
            const admitted = balancer.instances().filter((m) => matches(m, match as Record<string, string>));
            let picked: Instance | undefined;
            try {
              picked = balancer.pick({ match: match as Record<string, string> }).instance;
            } catch (error) {
              expect(isBallastError(error, 'BALLAST_NO_INSTANCE')).toBe(true);
            }
            if (picked === undefined) expect(admitted.map((m) => m.id)).toEqual([]);
            else expect(admitted.map((m) => m.id)).toContain(picked.id);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('a latency reported on release', () => {
  // The balancer may take a reported latency as the time of the release (startedAt + latency)
  // to save a clock read. A latency larger than the time actually elapsed (one in µs, or from
  // another clock) must not date the outcome in the future: it once did, and an ejection then
  // lasted until the clock caught up. The health docs promise an ejection lasts at most
  // maxEjectionMs; a second of slack leaves room for a caller timing requests on another clock.
  it('never makes an ejection outlast maxEjectionMs (+1 s) of clock time after the release', () => {
    fc.assert(
      fc.property(
        fc.oneof(latencyArb, fc.double({ min: 0, max: 1e10, noNaN: true })),
        fc.integer({ min: 0, max: 1e9 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 100, max: 60_000 }),
        fc.integer({ min: 0, max: 60_000 }),
        (latencyMs, startMs, heldMs, baseEjectionMs, extraMs) => {
          let now = startMs;
          const maxEjectionMs = baseEjectionMs + extraMs;
          const balancer = createBalancer({
            instances: [
              { id: 'a', url: 'http://10.0.0.1' },
              { id: 'b', url: 'http://10.0.0.2' },
            ],
            strategy: 'round-robin',
            clock: () => now,
            health: {
              outlier: { consecutiveFailures: 1, baseEjectionMs, maxEjectionMs },
              slowStart: false,
              panicThreshold: 0,
            },
          });
          const lease = balancer.pick({ exclude: ['b'] });
          now += heldMs;
          lease.release({ ok: false, latencyMs });
          expect(lease.instance.state).toBe('ejected');
          now += maxEjectionMs + 1_000;
          balancer.pick().release({ ok: true, latencyMs: 0 });
          expect(lease.instance.state).not.toBe('ejected');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('in microseconds does not eject for a thousand times as long', () => {
    let now = 0;
    const balancer = createBalancer({
      instances: [
        { id: 'a', url: 'http://10.0.0.1' },
        { id: 'b', url: 'http://10.0.0.2' },
      ],
      strategy: 'round-robin',
      clock: () => now,
      health: { outlier: { consecutiveFailures: 1 }, slowStart: false },
    });
    const lease = balancer.pick({ exclude: ['b'] });
    now += 2_000;
    lease.release({ ok: false, latencyMs: 2_000_000 }); // 2 s, in µs by mistake
    now += 300_000; // maxEjectionMs (default) after the release
    balancer.pick().release({ ok: true });
    expect(balancer.get('a')!.state).not.toBe('ejected');
  });
});
