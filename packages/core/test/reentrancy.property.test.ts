/**
 * Re-entrant listeners: every event's listener may call add/remove/update/pick/release/
 * reportCheck/eject on the same balancer. After every top-level command: in-flight counts are
 * exact per instance object, slots unique among live and draining instances, snapshot is JSON,
 * no unexpected exception escapes, health-change chains are consistent per live instance.
 */
import fc from 'fast-check';
import {
  BallastError,
  createBalancer,
  seededRandom,
  STRATEGY_NAMES,
  type Balancer,
  type BalancerEventName,
  type Instance,
  type Lease,
} from '../src';
import { manualClock, STATE_EVENTS } from './helpers';

const EVENTS: readonly BalancerEventName[] = [...STATE_EVENTS, 'no-instance'];
const ID_SPACE = 8;
const url = (n: number) => `http://10.1.0.${n + 1}:80`;

type Act =
  | { k: 'pick'; ex: number[]; zone?: string; key?: string }
  | { k: 'release'; which: number; ok: boolean; lat?: number }
  | { k: 'add'; n: number; w: number; zone: string; prio: number }
  | { k: 'remove'; n: number }
  | { k: 'update'; n: number; w?: number; zone?: string; prio?: number }
  | { k: 'check'; n: number; ok: boolean }
  | { k: 'eject'; n: number }
  | { k: 'advance'; ms: number }
  | { k: 'none' };

const zoneArb = fc.constantFrom('z1', 'z2');
const actArb: fc.Arbitrary<Act> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        k: fc.constant('pick' as const),
        ex: fc.array(fc.nat(ID_SPACE - 1), { maxLength: 3 }),
        zone: fc.option(zoneArb, { nil: undefined }),
        key: fc.option(fc.constantFrom('u1', 'u2'), { nil: undefined }),
      },
      { requiredKeys: ['k', 'ex'] },
    ),
  },
  {
    weight: 5,
    arbitrary: fc.record(
      {
        k: fc.constant('release' as const),
        which: fc.nat(),
        ok: fc.boolean(),
        lat: fc.option(fc.integer({ min: 0, max: 500 }), { nil: undefined }),
      },
      { requiredKeys: ['k', 'which', 'ok'] },
    ),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('add' as const),
      n: fc.nat(ID_SPACE - 1),
      w: fc.integer({ min: 1, max: 4 }),
      zone: zoneArb,
      prio: fc.integer({ min: 0, max: 1 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('remove' as const), n: fc.nat(ID_SPACE - 1) }) },
  {
    weight: 2,
    arbitrary: fc.record(
      {
        k: fc.constant('update' as const),
        n: fc.nat(ID_SPACE - 1),
        w: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        zone: fc.option(zoneArb, { nil: undefined }),
        prio: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
      },
      { requiredKeys: ['k', 'n'] },
    ),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('check' as const), n: fc.nat(ID_SPACE - 1), ok: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('eject' as const), n: fc.nat(ID_SPACE - 1) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      k: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1000, max: 40000 })),
    }),
  },
);

const scenarioArb = fc.record({
  strategy: fc.constantFrom(...STRATEGY_NAMES),
  initial: fc.integer({ min: 1, max: ID_SPACE }),
  commands: fc.array(actArb, { maxLength: 60 }),
  // What each event's listener does, drawn per call from this tape.
  reactions: fc.array(
    fc.oneof({ weight: 3, arbitrary: fc.constant<Act>({ k: 'none' }) }, { weight: 2, arbitrary: actArb }),
    { minLength: 1, maxLength: 40 },
  ),
  consecutiveFailures: fc.integer({ min: 0, max: 3 }),
  slowStart: fc.boolean(),
});

const EXPECTED = new Set(['BALLAST_NO_INSTANCE', 'BALLAST_INVALID_CONFIG', 'BALLAST_CLOSED']);

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

function run(s: Scenario, checkChains: boolean): void {
  const clock = manualClock(1000);
  const b: Balancer = createBalancer({
    instances: Array.from({ length: s.initial }, (_, n) => ({
      id: `i${n}`,
      url: url(n),
      zone: n % 2 ? 'z1' : 'z2',
    })),
    strategy: s.strategy === 'consistent-hash' ? { name: 'consistent-hash', tableSize: 101 } : s.strategy,
    clock,
    random: seededRandom(3),
    health: {
      window: 2,
      recoveryHalfLifeMs: 500,
      outlier: {
        consecutiveFailures: s.consecutiveFailures,
        baseEjectionMs: 2000,
        maxEjectionPercent: 50,
        intervalMs: 1000,
      },
      slowStart: s.slowStart ? { windowMs: 2000 } : false,
    },
  });
  const leases: Lease[] = [];
  const released = new Set<Lease>();
  const problems: string[] = [];
  const lastState = new Map<Instance, string>();
  const removed = new Set<Instance>();
  let tape = 0;
  let depth = 0;
  let quiet = false;

  const doAct = (a: Act, top: boolean): void => {
    try {
      switch (a.k) {
        case 'pick': {
          const lease = b.pick({
            exclude: a.ex.map((n) => `i${n}`),
            ...(a.zone ? { match: { zone: a.zone } } : {}),
            ...(a.key ? { key: a.key } : {}),
          });
          if (!leases.includes(lease)) leases.push(lease);
          break;
        }
        case 'release': {
          const open = leases.filter((l) => !released.has(l));
          if (open.length === 0) break;
          const l = open[a.which % open.length]!;
          released.add(l);
          l.release({ ok: a.ok, ...(a.lat === undefined ? {} : { latencyMs: a.lat }) });
          break;
        }
        case 'add':
          b.add({ id: `i${a.n}`, url: url(a.n), weight: a.w, zone: a.zone, priority: a.prio });
          break;
        case 'remove':
          b.remove(`i${a.n}`);
          break;
        case 'update':
          b.update(`i${a.n}`, {
            ...(a.w === undefined ? {} : { weight: a.w }),
            ...(a.zone === undefined ? {} : { zone: a.zone }),
            ...(a.prio === undefined ? {} : { priority: a.prio }),
          });
          break;
        case 'check':
          b.reportCheck(`i${a.n}`, a.ok);
          break;
        case 'eject':
          b.eject(`i${a.n}`, 'probe');
          break;
        case 'advance':
          if (top) clock.advance(a.ms);
          break;
        case 'none':
          break;
      }
    } catch (error) {
      if (!(error instanceof BallastError && EXPECTED.has(error.code)))
        problems.push(`${a.k} threw ${(error as Error)?.stack ?? String(error)}`);
    }
  };

  for (const event of EVENTS) {
    b.on(event, (e: any) => {
      if (event === 'pick' && !leases.includes(e.lease)) leases.push(e.lease);
      if (event === 'instance-added') {
        lastState.set(e.instance, e.instance.state);
      }
      if (event === 'instance-removed') removed.add(e.instance);
      if (event === 'health-change') {
        if (removed.has(e.instance) || b.get(e.instance.id) !== e.instance) {
          problems.push(`health-change for ${e.instance.id}, no longer in the balancer`);
          return;
        }
        const last = lastState.get(e.instance);
        if (last !== undefined && last !== e.from)
          problems.push(`health-change ${e.instance.id} from ${e.from}, last ${last}`);
        if (e.from === e.to) problems.push(`health-change ${e.instance.id} ${e.from}->${e.to}`);
        lastState.set(e.instance, e.to);
      }
      if (depth >= 2 || quiet) return;
      const a = s.reactions[tape++ % s.reactions.length]!;
      depth += 1;
      try {
        doAct(a, false);
      } finally {
        depth -= 1;
      }
    });
  }
  // initial instances
  for (const inst of b.instances()) lastState.set(inst, inst.state);

  const verify = (where: string) => {
    const live = b.instances() as (Instance & { slot: number; draining: boolean })[];
    const held = new Map<Instance, number>();
    for (const l of leases) if (!released.has(l)) held.set(l.instance, (held.get(l.instance) ?? 0) + 1);
    for (const [inst, n] of held)
      if (inst.inflight !== n) problems.push(`${where}: ${inst.id} inflight ${inst.inflight}, held ${n}`);
    for (const inst of live)
      if (inst.inflight !== (held.get(inst) ?? 0))
        problems.push(`${where}: live ${inst.id} inflight ${inst.inflight}, held ${held.get(inst) ?? 0}`);
    const draining = [...held.keys()].filter((i) => !live.includes(i as never)) as (Instance & {
      slot: number;
    })[];
    const slots = [...live, ...draining].map((m) => m.slot);
    if (new Set(slots).size !== slots.length) problems.push(`${where}: duplicate slots ${slots}`);
    const snap = b.snapshot();
    if (JSON.stringify(JSON.parse(JSON.stringify(snap))) !== JSON.stringify(snap))
      problems.push('snapshot not JSON');
    const liveSnap = snap.instances.filter((i) => i.state !== 'draining');
    if (liveSnap.length !== live.length)
      problems.push(`${where}: snapshot live ${liveSnap.length} vs ${live.length}`);
    const drainSnap = snap.instances.filter((i) => i.state === 'draining');
    if (drainSnap.length !== draining.length)
      problems.push(
        `${where}: snapshot draining ${drainSnap.map((i) => i.id + ':' + i.inflight)} vs held-not-live ${draining.map((i) => i.id + ':' + i.inflight + ':' + i.state)}`,
      );
    for (const i of snap.instances)
      if (i.inflight < 0 || (i.state === 'draining' && i.inflight === 0))
        problems.push(`${where}: bad ${i.id} ${i.state} ${i.inflight}`);
    for (const i of live)
      if (
        checkChains &&
        lastState.has(i) &&
        lastState.get(i) !== i.state &&
        i.state !== 'slow-start' &&
        lastState.get(i) !== 'slow-start'
      )
        problems.push(`${where}: ${i.id} state ${i.state} but events said ${lastState.get(i)}`);
  };

  s.commands.forEach((c, i) => {
    doAct(c, true);
    verify(`#${i} ${JSON.stringify(c)}`);
  });
  // release everything
  quiet = true;
  for (const l of leases)
    if (!released.has(l)) {
      released.add(l);
      l.release({ ok: true, latencyMs: 1 });
    }
  verify('end');
  for (const i of b.snapshot().instances)
    if (i.inflight !== 0) problems.push(`end: ${i.id} inflight ${i.inflight}`);
  if (problems.length > 0) throw new Error(`${s.strategy}: ${problems.slice(0, 5).join('\n')}`);
}

describe('re-entrant listeners', () => {
  it('keep in-flight counts exact, slots unique, snapshot valid, and never throw out of pick/release', () => {
    fc.assert(
      fc.property(scenarioArb, (s) => run(s, true)),
      { numRuns: 1_000, seed: 2323 },
    );
  });
});
