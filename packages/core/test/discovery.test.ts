import {
  BallastError,
  createBalancer,
  InvalidConfigError,
  seededRandom,
  type BalancerEvents,
  type BalancerOptions,
  type Discovery,
  type DiscoverySink,
} from '../src';
import { manualClock, sequence } from './helpers';

/** A discovery source the test drives by hand: `push(list)`, `fail(error)`. */
function manualSource(name = 'manual') {
  let sink: DiscoverySink | undefined;
  let subscriptions = 0;
  let unsubscribed = 0;
  const source: Discovery = {
    name,
    subscribe(s) {
      sink = s;
      subscriptions += 1;
      return () => {
        unsubscribed += 1;
      };
    },
  };
  return {
    source,
    push: (list: unknown) => sink!.update(list as unknown[]),
    fail: (error: unknown) => sink!.error(error),
    get sink() {
      return sink!;
    },
    get subscriptions() {
      return subscriptions;
    },
    get unsubscribed() {
      return unsubscribed;
    },
  };
}

function recordingLogger() {
  const lines: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) =>
    void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

const url = (port: number) => `http://127.0.0.1:${port}`;
const inst = (id: string, port: number, extra: object = {}) => ({ id, url: url(port), ...extra });

function discovered(options: Partial<BalancerOptions> = {}) {
  const clock = manualClock();
  const src = manualSource();
  const log = recordingLogger();
  const balancer = createBalancer({
    service: 'users',
    discovery: src.source,
    clock,
    random: seededRandom(7),
    logger: log.logger,
    strategy: 'round-robin',
    ...options,
  });
  return { balancer, clock, src, log };
}

describe('discovery: applying lists', () => {
  it('subscribes at creation, fills the pool from the first list and reports the state', () => {
    const { balancer, src, clock } = discovered();
    expect(src.subscriptions).toBe(1);
    expect(src.sink.service).toBe('users');
    expect(balancer.snapshot().discovery).toEqual({
      source: 'manual',
      state: 'pending',
      instances: 0,
      updates: 0,
      errors: 0,
      failures: 0,
      skipped: 0,
    });
    expect(() => balancer.pick()).toThrow(/until discovery delivers its first list/);

    src.push([inst('a', 3001), inst('b', 3002)]);
    clock.advance(250);
    expect(balancer.instances().map((i) => i.id)).toEqual(['a', 'b']);
    // The first list fills an idle pool: nobody slow-starts.
    expect(balancer.instances().map((i) => i.state)).toEqual(['healthy', 'healthy']);
    expect(balancer.snapshot().discovery).toEqual({
      source: 'manual',
      state: 'ok',
      instances: 2,
      updates: 1,
      errors: 0,
      failures: 0,
      skipped: 0,
      sinceUpdateMs: 250,
    });
    expect(new Set(sequence(balancer, 4))).toEqual(new Set(['a', 'b']));
  });

  it('keeps the learned state of staying instances, slow-starts new ones and drains removed ones', () => {
    const { balancer, src } = discovered();
    const updates: BalancerEvents['discovery-update'][] = [];
    balancer.on('discovery-update', (e) => updates.push(e));
    src.push([inst('a', 3001), inst('b', 3002)]);
    // Teach `a` something: requests, one failure.
    for (let i = 0; i < 6; i++) {
      const lease = balancer.pick({ exclude: ['b'] });
      lease.release({ ok: i !== 0, latencyMs: 20 });
    }
    const a = balancer.get('a')!;
    const learned = { requests: a.requests, failures: a.failures, latencyMs: a.latencyMs };
    expect(learned.requests).toBe(6);
    expect(learned.failures).toBe(1);

    const held = balancer.pick({ exclude: ['a'] });
    expect(held.instance.id).toBe('b');

    src.push([inst('a', 3001), inst('c', 3003)]);
    expect(updates.at(-1)).toMatchObject({ added: 1, removed: 1, updated: 0, skipped: 0, total: 2 });
    // Same object, same numbers: nothing was reset.
    expect(balancer.get('a')).toBe(a);
    expect({ requests: a.requests, failures: a.failures, latencyMs: a.latencyMs }).toEqual(learned);
    expect(balancer.get('c')!.state).toBe('slow-start');
    expect(balancer.get('c')!.effectiveWeight).toBeLessThan(1);
    // `b` gets no further picks but its lease is still out: it drains.
    expect(balancer.get('b')).toBeUndefined();
    expect(balancer.snapshot().instances.find((i) => i.id === 'b')).toMatchObject({
      state: 'draining',
      inflight: 1,
    });
    expect(sequence(balancer, 20)).not.toContain('b');
    held.release({ ok: true, latencyMs: 5 });
    expect(balancer.snapshot().instances.map((i) => i.id)).toEqual(['a', 'c']);
  });

  it('applies changed settings in place and re-adds an instance whose URL moved', () => {
    const { balancer, src } = discovered();
    const updated: string[] = [];
    balancer.on('instance-updated', (e) => updated.push(e.instance.id));
    src.push([inst('a', 3001, { zone: 'z1', metadata: { v: '1' } }), inst('b', 3002)]);
    const a = balancer.get('a')!;
    const b = balancer.get('b')!;

    src.push([inst('a', 3001, { weight: 3, metadata: { v: '2' }, priority: 1 }), inst('b', 3009)]);
    expect(balancer.get('a')).toBe(a);
    expect(a).toMatchObject({ weight: 3, zone: undefined, metadata: { v: '2' }, priority: 1 });
    expect(updated).toEqual(['a']);
    // Another endpoint under the same id is another instance: nothing learned carries over.
    expect(balancer.get('b')).not.toBe(b);
    expect(balancer.get('b')!.url).toBe(`${url(3009)}/`);
    expect(balancer.snapshot().discovery).toMatchObject({ instances: 2, updates: 2 });
  });

  it('logs each instance it adds, updates or removes at info, with the instance and reason', () => {
    const { src, log } = discovered();
    src.push([inst('a', 3001), inst('b', 3002)]);
    const before = log.lines.length;
    src.push([inst('a', 3001, { weight: 2 }), inst('c', 3003)]);
    const perInstance = log.lines
      .slice(before)
      .filter((l) => l.msg !== 'ballast: discovery list applied')
      .map((l) => [l.level, l.msg, l.obj.service, l.obj.instance, l.obj.reason]);
    expect(perInstance).toEqual([
      ['info', 'ballast: instance removed', 'users', 'b', 'discovery'],
      ['info', 'ballast: instance updated', 'users', 'a', 'discovery'],
      ['info', 'ballast: instance added', 'users', 'c', 'discovery'],
    ]);
  });

  it('applies an unchanged list without touching anything and logs it at debug level only', () => {
    const { balancer, src, log } = discovered();
    const events: string[] = [];
    balancer.on('instance-added', () => events.push('added'));
    balancer.on('instance-updated', () => events.push('updated'));
    balancer.on('instance-removed', () => events.push('removed'));
    src.push([inst('a', 3001), inst('b', 3002)]);
    events.length = 0;
    const before = log.lines.length;
    src.push([inst('b', 3002), inst('a', 3001)]);
    expect(events).toEqual([]);
    expect(log.lines.slice(before).map((l) => l.level)).toEqual(['debug']);
    expect(balancer.snapshot().discovery!.updates).toBe(2);
  });

  it('does not slow-start instances a source delivers while the balancer is created, beside static ones', () => {
    // Start-up: every instance is new, static and discovered alike. The list once slow-started
    // the discovered ones (10 % weight) because the static instances were already in the pool.
    const source: Discovery = {
      name: 'sync',
      subscribe(sink) {
        sink.update([inst('a', 3001)]);
        return () => {};
      },
    };
    const balancer = createBalancer({
      clock: manualClock(),
      instances: [inst('static', 4000)],
      discovery: source,
    });
    expect(balancer.instances().map((i) => [i.id, i.state, i.effectiveWeight])).toEqual([
      ['static', 'healthy', 1],
      ['a', 'healthy', 1],
    ]);
  });

  it('an empty list empties the discovered part of the pool but never the configured instances', () => {
    const { balancer, src } = discovered({ instances: [inst('static', 4000)] });
    src.push([inst('a', 3001)]);
    expect(balancer.instances().map((i) => i.id)).toEqual(['static', 'a']);
    src.push([]);
    expect(balancer.instances().map((i) => i.id)).toEqual(['static']);
    expect(balancer.snapshot().discovery).toMatchObject({ state: 'ok', instances: 0 });
  });
});

describe('discovery: failures and invalid entries', () => {
  it('a failure keeps the last good list, logs a warning, emits an event and shows in the snapshot', () => {
    const { balancer, src, log, clock } = discovered();
    const errors: BalancerEvents['discovery-error'][] = [];
    balancer.on('discovery-error', (e) => errors.push(e));
    src.push([inst('a', 3001), inst('b', 3002)]);
    clock.advance(1_000);

    src.fail(new Error('SERVFAIL'));
    src.fail(new Error('ETIMEOUT'));
    expect(balancer.instances().map((i) => i.id)).toEqual(['a', 'b']);
    expect(new Set(sequence(balancer, 4))).toEqual(new Set(['a', 'b']));
    expect(errors.map((e) => [e.source, (e.error as Error).message, e.failures, e.kept])).toEqual([
      ['manual', 'SERVFAIL', 1, 2],
      ['manual', 'ETIMEOUT', 2, 2],
    ]);
    const warnings = log.lines.filter((l) => l.level === 'warn');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]!.msg).toMatch(/discovery failed/);
    expect(warnings[0]!.obj).toMatchObject({ service: 'users', source: 'manual', kept: 2 });
    expect(balancer.snapshot().discovery).toEqual({
      source: 'manual',
      state: 'failing',
      instances: 2,
      updates: 1,
      errors: 2,
      failures: 2,
      skipped: 0,
      sinceUpdateMs: 1_000,
      lastError: 'ETIMEOUT',
    });

    src.push([inst('a', 3001)]);
    expect(balancer.snapshot().discovery).toMatchObject({
      state: 'ok',
      failures: 0,
      errors: 2,
      instances: 1,
    });
  });

  it('skips invalid entries with a warning naming the field and applies the valid ones', () => {
    const { balancer, src, log } = discovered({ instances: [inst('static', 4000)] });
    src.push([
      inst('nan', 3001, { weight: Number.NaN }),
      inst('inf', 3002, { weight: Infinity }),
      inst('neg', 3003, { weight: -1 }),
      inst('meta', 3004, { metadata: { region: 3 } }),
      inst('prio', 3005, { priority: 1.5 }),
      'not a url',
      42,
      null,
      inst('static', 3006),
      inst('good', 3007),
      inst('good', 3008),
    ]);
    expect(balancer.instances().map((i) => i.id)).toEqual(['static', 'good']);
    expect(balancer.get('good')!.url).toBe(`${url(3007)}/`);
    const reasons = log.lines.filter((l) => l.level === 'warn').map((l) => String(l.obj.reason));
    expect(reasons).toHaveLength(10);
    expect(reasons[0]).toMatch(/discovery\[0\]\.weight/);
    expect(reasons[1]).toMatch(/discovery\[1\]\.weight: Infinity/);
    expect(reasons[2]).toMatch(/discovery\[2\]\.weight: -1/);
    expect(reasons[3]).toMatch(/discovery\[3\]\.metadata\.region: 3/);
    expect(reasons[4]).toMatch(/discovery\[4\]\.priority: 1\.5/);
    expect(reasons[5]).toMatch(/discovery\[5\]\.url/);
    expect(reasons[6]).toMatch(/discovery\[6\]: 42/);
    expect(reasons[8]).toMatch(/belongs to a configured instance/);
    expect(reasons.at(-1)).toMatch(/duplicate id "good"/);
    expect(balancer.snapshot().discovery).toMatchObject({ state: 'ok', skipped: 10, instances: 1 });
  });

  it('a list with no valid entry, or no list at all, is a failure: the last good list stays', () => {
    const { balancer, src } = discovered();
    const errors: string[] = [];
    balancer.on('discovery-error', (e) => errors.push((e.error as Error).message));
    src.push([inst('a', 3001)]);
    src.push([{ url: 'http://127.0.0.1:3002', weight: -5 }, { nope: true }]);
    src.push({ not: 'an array' });
    src.push(undefined);
    expect(balancer.instances().map((i) => i.id)).toEqual(['a']);
    expect(errors).toEqual([
      'none of the 2 discovered entries is a valid instance',
      'discovery delivered an object instead of an array',
      'discovery delivered undefined instead of an array',
    ]);
    expect(balancer.snapshot().discovery).toMatchObject({ state: 'failing', failures: 3 });
  });

  it('a throwing event listener or a source pushing garbage never throws back into the source', () => {
    const { balancer, src } = discovered();
    balancer.on('instance-added', () => {
      throw new Error('listener bug');
    });
    expect(() => src.push([inst('a', 3001)])).not.toThrow();
    expect(() =>
      src.push([
        new Proxy(
          {},
          {
            ownKeys: () => {
              throw new Error('hostile');
            },
          },
        ),
      ]),
    ).not.toThrow();
    expect(() => src.fail(Symbol('odd'))).not.toThrow();
    expect(balancer.instances().map((i) => i.id)).toEqual(['a']);
    expect(balancer.snapshot().discovery!.lastError).toBe('a symbol');
  });
});

describe('discovery: lifecycle and configuration', () => {
  it('close() unsubscribes once and later pushes are ignored', () => {
    const { balancer, src } = discovered();
    src.push([inst('a', 3001)]);
    balancer.close();
    balancer.close();
    expect(src.unsubscribed).toBe(1);
    expect(() => src.push([inst('b', 3002)])).not.toThrow();
    expect(balancer.instances().map((i) => i.id)).toEqual(['a']);
  });

  it('a source may deliver synchronously from subscribe()', () => {
    const fixed: Discovery = {
      name: 'fixed',
      subscribe(sink) {
        sink.update([inst('a', 3001), inst('b', 3002)]);
        return () => {};
      },
    };
    const balancer = createBalancer({ discovery: fixed });
    expect(balancer.instances().map((i) => i.id)).toEqual(['a', 'b']);
    expect(balancer.snapshot().discovery).toMatchObject({ source: 'fixed', state: 'ok' });
  });

  it.each([
    [null, 'discovery'],
    ['dns://x', 'discovery'],
    [{ name: 'x' }, 'discovery.subscribe'],
    [{ name: '', subscribe: () => () => {} }, 'discovery.name'],
    [{ name: 'x', subscribe: () => undefined }, 'discovery.subscribe'],
  ])('rejects discovery %p naming %s', (discovery, field) => {
    let error: unknown;
    try {
      createBalancer({ discovery: discovery as never });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).toBe(field);
  });

  it('a source that throws in subscribe() fails creation with BALLAST_DISCOVERY_ERROR and its cause', () => {
    const cause = new Error('no resolver');
    const broken: Discovery = {
      name: 'broken',
      subscribe() {
        throw cause;
      },
    };
    expect(() => createBalancer({ discovery: broken })).toThrow(
      expect.objectContaining({ code: 'BALLAST_DISCOVERY_ERROR', cause }) as BallastError,
    );
  });

  it('an async subscribe() is refused without an unhandled rejection, and one it started is stopped', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const warnings: unknown[] = [];
    const logger = { debug() {}, info() {}, warn: (obj: unknown) => warnings.push(obj), error() {} };
    let stopped = 0;
    const failing: Discovery = {
      name: 'async-failing',
      // A natural mistake: an async subscribe whose registry is unreachable.
      subscribe: (async () => {
        await Promise.resolve();
        throw new Error('registry unreachable');
      }) as unknown as Discovery['subscribe'],
    };
    const started: Discovery = {
      name: 'async-started',
      subscribe: (async () => () => void (stopped += 1)) as unknown as Discovery['subscribe'],
    };
    for (const discovery of [failing, started])
      expect(() => createBalancer({ discovery, logger })).toThrow(
        expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG' }) as BallastError,
      );
    await new Promise((resolve) => setImmediate(resolve));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
    expect(stopped).toBe(1);
    expect(warnings).toEqual([expect.objectContaining({ source: 'async-failing' })]);
  });
});
