import {
  BallastError,
  createBalancer,
  InvalidConfigError,
  seededRandom,
  type Instance,
  type Strategy,
} from '../src';
import { manualClock, pool, sequence, testBalancer } from './helpers';

function recordingLogger() {
  const lines: { level: string; obj: object; msg?: string }[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('instances', () => {
  it('accepts plain URLs and defaults id to the origin and weight to 1', () => {
    const balancer = createBalancer({ instances: ['http://127.0.0.1:3000/base', 'https://example.test'] });
    expect(balancer.instances().map((m) => [m.id, m.url, m.weight])).toEqual([
      ['http://127.0.0.1:3000', 'http://127.0.0.1:3000/base', 1],
      ['https://example.test', 'https://example.test/', 1],
    ]);
  });

  it.each([
    [{ instances: ['ftp://x.test'] }, 'instances[0].url'],
    [{ instances: ['/relative'] }, 'instances[0].url'],
    [{ instances: ['http://user:pw@x.test'] }, 'instances[0].url'],
    [{ instances: [{ url: 'http://a.test', weight: 0 }] }, 'instances[0].weight'],
    [{ instances: ['http://a.test', { url: 'http://b.test', weight: Number.NaN }] }, 'instances[1].weight'],
    [{ instances: [{ url: 'http://a.test', weight: Infinity }] }, 'instances[0].weight'],
    [{ instances: [{ url: 'http://a.test', metadata: { region: 3 } }] }, 'instances[0].metadata.region'],
    [
      { instances: [{ url: 'http://a.test', metadata: { nested: { a: 'b' } } }] },
      'instances[0].metadata.nested',
    ],
    [
      { instances: [{ url: 'http://a.test', metadata: { long: 'x'.repeat(2000) } }] },
      'instances[0].metadata.long',
    ],
    [{ instances: [{ url: 'http://a.test', colour: 'red' }] }, 'instances[0].colour'],
    [{ instances: ['http://a.test', 'http://a.test'] }, 'instances[1].id'],
    [{ instances: 'http://a.test' }, 'instances'],
    [{ strategy: 'fastest' }, 'strategy'],
    [{ strategy: { name: 'peak-ewma', decayMs: -1 } }, 'strategy.decayMs'],
    [{ strategy: { name: 'round-robin', extra: 1 } }, 'strategy.extra'],
    [{ health: { threshold: 1.5 } }, 'health.threshold'],
    [{ clock: 5 }, 'clock'],
    [{ logger: { info: 'loud' } }, 'logger.info'],
    [{ service: '' }, 'service'],
    [{ instance: [] }, 'instance'],
  ])('rejects %j naming %s', (options, field) => {
    let error: unknown;
    try {
      createBalancer(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
    expect((error as Error).message).toContain(field);
  });

  it('adds, updates and removes at runtime, keeping what an instance learned', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(2) });
    sequence(balancer, 10);
    const before = balancer.get('i0')!;
    expect(before.requests).toBe(5);
    balancer.update('i0', { weight: 4, zone: 'eu-1', metadata: { version: 'v2' } });
    const after = balancer.get('i0')!;
    expect(after).toBe(before);
    expect([after.weight, after.zone, after.metadata.version, after.requests]).toEqual([4, 'eu-1', 'v2', 5]);
    balancer.add('http://127.0.0.1:9000');
    expect(balancer.instances()).toHaveLength(3);
    expect(() => balancer.add({ id: 'i1', url: 'http://x.test' })).toThrow(InvalidConfigError);
    expect(() => balancer.update('i0', { weight: -1 })).toThrow(
      expect.objectContaining({ field: 'patch.weight' }),
    );
    expect(() => balancer.update('nope', { weight: 1 })).toThrow(InvalidConfigError);
    expect(balancer.remove('i1')).toBe(true);
    expect(balancer.remove('i1')).toBe(false);
    expect(new Set(sequence(balancer, 6))).toEqual(new Set(['i0', 'http://127.0.0.1:9000']));
  });
});

describe('leases', () => {
  it('keeps in-flight counts exact and release idempotent', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(2) });
    const a = balancer.pick();
    const b = balancer.pick();
    const c = balancer.pick();
    expect(balancer.snapshot().instances.map((i) => i.inflight)).toEqual([2, 1]);
    a.release({ ok: true });
    a.release({ ok: false });
    expect(balancer.get('i0')!.inflight).toBe(1);
    expect(balancer.get('i0')!.requests).toBe(1);
    b.release({ ok: true });
    c.release({ ok: true });
    expect(balancer.snapshot().instances.map((i) => i.inflight)).toEqual([0, 0]);
  });

  it('measures latency on the injected clock unless given', () => {
    const { balancer, clock } = testBalancer({ strategy: 'round-robin', instances: pool(1) });
    const latencies: number[] = [];
    balancer.on('release', (e) => latencies.push(e.latencyMs));
    const lease = balancer.pick();
    expect(lease.startedAt).toBe(0);
    clock.advance(42);
    lease.release({ ok: true });
    balancer.pick().release({ ok: true, latencyMs: 7 });
    expect(latencies).toEqual([42, 7]);
  });

  it.each([0, 42, 1234.567891, 2 ** 31 + 0.25, 1.7e12 + 0.5])(
    'keeps the pick time %p exactly enough',
    (start) => {
      const clock = manualClock(start);
      const balancer = createBalancer({ clock, instances: pool(1) });
      const latencies: number[] = [];
      balancer.on('release', (e) => latencies.push(e.latencyMs));
      const lease = balancer.pick();
      expect(Math.abs(lease.startedAt - start)).toBeLessThan(1e-6);
      clock.advance(2.5);
      lease.release({ ok: true });
      expect(latencies[0]).toBeCloseTo(2.5, 6);
    },
  );

  it('survives garbage outcomes', () => {
    const { balancer } = testBalancer({ instances: pool(1) });
    for (const outcome of [
      undefined,
      null,
      5,
      'ok',
      { ok: 'yes' },
      { ok: true, latencyMs: Number.NaN },
      { ok: true, latencyMs: -5 },
    ]) {
      balancer.pick().release(outcome as never);
    }
    const m = balancer.get('i0')!;
    expect(m.inflight).toBe(0);
    expect(m.requests).toBe(7);
    expect(m.failures).toBe(5);
    expect(Number.isFinite(m.latencyMs)).toBe(true);
  });

  it('lets a removed instance drain: no new picks, in-flight leases finish', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(2) });
    const lease = balancer.pick();
    expect(lease.instance.id).toBe('i0');
    balancer.remove('i0');
    expect(balancer.snapshot().instances.find((i) => i.id === 'i0')).toMatchObject({
      state: 'draining',
      inflight: 1,
    });
    expect(sequence(balancer, 3)).toEqual(['i1', 'i1', 'i1']);
    lease.release({ ok: true });
    expect(balancer.snapshot().instances.map((i) => i.id)).toEqual(['i1']);
  });
});

describe('health-aware filtering', () => {
  it('stops picking an instance whose score falls below the threshold, and tries it again later', () => {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { outlier: false, slowStart: false },
    });
    const changes: string[] = [];
    balancer.on('health-change', (e) => changes.push(`${e.instance.id}:${e.from}->${e.to}:${e.reason}`));
    let failures = 0;
    while (balancer.get('i1')!.state === 'healthy') {
      const lease = balancer.pick();
      lease.release({ ok: lease.instance.id !== 'i1', latencyMs: 1 });
      if (lease.instance.id === 'i1') failures += 1;
    }
    // α = 0.1: 0.9^7 < 0.5 <= 0.9^6.
    expect(failures).toBe(7);
    expect(changes).toEqual(['i1:healthy->unhealthy:failure']);
    expect(sequence(balancer, 10)).toEqual(Array(10).fill('i0'));
    // The idle success rate recovers toward 1 with a 10 s half-life: from 0.478 it is back over
    // 0.5 after about 0.6 s of idleness, seen at the next maintenance tick.
    clock.advance(5_000);
    sequence(balancer, 1);
    expect(balancer.get('i1')!.state).toBe('healthy');
    expect(changes[1]).toBe('i1:unhealthy->healthy:maintenance');
    expect(sequence(balancer, 4)).toContain('i1');
  });

  it('takes the threshold per balancer', () => {
    const strict = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { threshold: 0.95 },
    }).balancer;
    const lease = strict.pick();
    lease.release({ ok: false });
    expect(strict.get('i0')!.state).toBe('unhealthy');
    const lax = testBalancer({
      strategy: 'round-robin',
      instances: pool(2),
      health: { threshold: 0, outlier: false },
    }).balancer;
    for (let i = 0; i < 100; i++) lax.pick().release({ ok: false });
    expect(lax.instances().every((m) => m.state === 'healthy')).toBe(true);
  });

  it('keeps the score in [0, 1]', () => {
    const { balancer } = testBalancer({ instances: pool(1), health: { threshold: 0 } });
    for (let i = 0; i < 500; i++) balancer.pick().release({ ok: i % 3 === 0 });
    const { health } = balancer.get('i0')!;
    expect(health).toBeGreaterThanOrEqual(0);
    expect(health).toBeLessThanOrEqual(1);
  });

  it('fails fast with BALLAST_NO_INSTANCE on an empty pool, or in panic with failOnPanic', () => {
    const empty = createBalancer({ instances: [] });
    expect(() => empty.pick()).toThrow(
      expect.objectContaining({ code: 'BALLAST_NO_INSTANCE', message: expect.stringContaining('empty') }),
    );
    const { balancer } = testBalancer({ instances: pool(1), health: { failOnPanic: true } });
    while (balancer.get('i0')!.state === 'healthy') balancer.pick().release({ ok: false });
    expect(() => balancer.pick()).toThrow(
      expect.objectContaining({ code: 'BALLAST_NO_INSTANCE', message: expect.stringContaining('panic') }),
    );
  });
});

describe('events', () => {
  it('emits lifecycle events with the instance', () => {
    const { balancer } = testBalancer({ instances: pool(1) });
    const seen: string[] = [];
    balancer
      .on('instance-added', (e) => seen.push(`added ${e.instance.id}`))
      .on('instance-updated', (e) => seen.push(`updated ${e.instance.id} ${e.instance.weight}`))
      .on('instance-removed', (e) => seen.push(`removed ${e.instance.id}`))
      .on('pick', (e) => seen.push(`pick ${e.lease.instance.id}`))
      .on('release', (e) => seen.push(`release ${e.instance.id} ${e.outcome.ok}`));
    balancer.add({ id: 'x', url: 'http://x.test' });
    balancer.update('x', { weight: 2 });
    balancer.remove('i0');
    balancer.pick().release({ ok: true });
    expect(seen).toEqual(['added x', 'updated x 2', 'removed i0', 'pick x', 'release x true']);
  });

  it('isolates a throwing listener and logs it', () => {
    const { lines, logger } = recordingLogger();
    const { balancer } = testBalancer({ instances: pool(1), logger });
    let after = 0;
    balancer.on('pick', () => {
      throw new Error('listener bug');
    });
    balancer.on('pick', () => (after += 1));
    balancer.on('release', () => {
      throw new Error('listener bug');
    });
    expect(() => balancer.pick().release({ ok: true })).not.toThrow();
    expect(after).toBe(1);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('stops calling a listener after off()', () => {
    const { balancer } = testBalancer({ instances: pool(1) });
    let calls = 0;
    const listener = () => (calls += 1);
    balancer.on('pick', listener);
    sequence(balancer, 2);
    balancer.off('pick', listener);
    sequence(balancer, 2);
    expect(calls).toBe(2);
  });

  it('never picks an instance that a panic listener removed while the pool was being rebuilt', () => {
    // The pool rebuild emits `panic`; a removal from its listener was overwritten by the rebuild
    // in progress, and the removed instance kept being picked.
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(4),
      health: { slowStart: false },
    });
    balancer.on('panic', (e) => {
      if (e.active) balancer.remove('i0');
    });
    for (const id of ['i1', 'i2', 'i3']) balancer.reportCheck(id, false);
    expect(sequence(balancer, 12)).not.toContain('i0');
  });

  it('a pick from a panic listener gets the new pool, never the instance just ejected', () => {
    // `panic` was emitted while the pool was rebuilt, before the new pool replaced the old one,
    // so a pick from its listener read the old pool, ejected instance included.
    const { balancer } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false, panicThreshold: 1 },
    });
    const picked: string[] = [];
    balancer.on('panic', (e) => {
      if (!e.active) return;
      for (let i = 0; i < 3; i++) {
        const lease = balancer.pick();
        picked.push(`${lease.instance.id} ${lease.instance.state}`);
        lease.release({ ok: true, latencyMs: 1 });
      }
    });
    for (let i = 0; i < 5; i++) balancer.pick({ exclude: ['i0', 'i2'] }).release({ ok: false, latencyMs: 1 });
    expect(balancer.get('i1')!.state).toBe('ejected');
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(picked).toHaveLength(3);
    expect(picked.filter((p) => p.endsWith('ejected'))).toEqual([]);
  });

  it('reports a state change made without a pick: panic from checks, a return from ejection', () => {
    // Active checks and ejection deadlines change state between picks; the `panic` and `restore`
    // events and the snapshot waited for the next pick, so an idle service looked fine, or
    // ejected, for as long as no request came.
    const { balancer, clock } = testBalancer({ instances: pool(4), health: { slowStart: false } });
    const seen: string[] = [];
    balancer
      .on('panic', (e) => seen.push(`panic ${e.active}`))
      .on('restore', (e) => seen.push(`restore ${e.instance.id} ${e.reason}`));
    for (const id of ['i0', 'i1', 'i2']) balancer.reportCheck(id, false);
    expect(seen).toEqual(['panic true']);
    expect(balancer.snapshot().panic).toBe(true);
    balancer.reportCheck('i0', true);
    balancer.reportCheck('i1', true);
    expect(seen).toEqual(['panic true', 'panic false']);
    expect(balancer.snapshot().panic).toBe(false);
    expect(balancer.eject('i3', 'closed-early')).toBe(true);
    clock.set(30_000);
    const snapshot = balancer.snapshot();
    expect(snapshot.instances.find((i) => i.id === 'i3')!.state).toBe('healthy');
    expect(seen).toEqual(['panic true', 'panic false', 'restore i3 ejection-expired']);
  });

  it('survives a logger that throws', () => {
    const boom = () => {
      throw new Error('logger bug');
    };
    const { balancer } = testBalancer({
      instances: pool(1),
      logger: { debug: boom, info: boom, warn: boom, error: boom },
    });
    balancer.on('pick', boom);
    expect(() => sequence(balancer, 3)).not.toThrow();
  });
});

describe('snapshot', () => {
  it('is plain JSON with the contract fields', () => {
    const { balancer } = testBalancer({
      service: 'users',
      strategy: 'least-connections',
      instances: [
        { id: 'a', url: 'http://a.test', zone: 'eu-1', metadata: { version: 'v1' } },
        'http://b.test',
      ],
    });
    balancer.pick();
    const snapshot = balancer.snapshot();
    expect(JSON.parse(JSON.stringify(snapshot))).toEqual(snapshot);
    expect(snapshot).toMatchObject({
      service: 'users',
      strategy: 'least-connections',
      instances: [
        {
          id: 'a',
          url: 'http://a.test/',
          weight: 1,
          zone: 'eu-1',
          inflight: 1,
          health: 1,
          state: 'healthy',
          metadata: { version: 'v1' },
        },
        { id: 'http://b.test', url: 'http://b.test/', weight: 1, inflight: 0, health: 1, state: 'healthy' },
      ],
    });
    expect('zone' in snapshot.instances[1]!).toBe(false);
  });
});

describe('custom strategies and lifecycle', () => {
  it('runs a custom strategy over the eligible candidates', () => {
    const last: Strategy = { name: 'last', pick: (candidates) => candidates[candidates.length - 1] };
    const { balancer } = testBalancer({ strategy: last, instances: pool(3) });
    expect(balancer.strategy).toBe('last');
    expect(sequence(balancer, 3)).toEqual(['i2', 'i2', 'i2']);
    expect(balancer.pick({ exclude: ['i2'] }).instance.id).toBe('i1');
  });

  it('names a custom strategy given without a name (JavaScript) "custom", in its snapshot too', () => {
    const unnamed = { pick: (candidates: readonly Instance[]) => candidates[0] } as unknown as Strategy;
    const { balancer } = testBalancer({ strategy: unnamed, instances: pool(2) });
    expect(balancer.pick().instance.id).toBe('i0');
    expect(balancer.strategy).toBe('custom');
    expect(JSON.parse(JSON.stringify(balancer.snapshot()))).toMatchObject({
      strategy: 'custom',
      activeStrategy: 'custom',
    });
  });

  it('rejects a custom strategy that returns a stranger, and wraps one that throws', () => {
    const stranger: Strategy = { name: 'stranger', pick: () => ({ id: 'x' }) as never };
    expect(() => testBalancer({ strategy: stranger }).balancer.pick()).toThrow(
      expect.objectContaining({ code: 'BALLAST_STRATEGY_ERROR' }),
    );
    const thrower: Strategy = {
      name: 'thrower',
      pick: () => {
        throw new Error('bug');
      },
    };
    expect(() => testBalancer({ strategy: thrower }).balancer.pick()).toThrow(BallastError);
  });

  it('defaults to adaptive', () => {
    expect(createBalancer({ instances: pool(2) }).strategy).toBe('adaptive');
  });

  it('refuses picks after close, but lets outstanding leases finish', () => {
    const balancer = createBalancer({ instances: pool(1), clock: manualClock(), random: seededRandom(1) });
    const lease = balancer.pick();
    balancer.close();
    balancer.close();
    expect(() => balancer.pick()).toThrow(expect.objectContaining({ code: 'BALLAST_CLOSED' }));
    lease.release({ ok: true });
    expect(balancer.get('i0')!.inflight).toBe(0);
  });

  it('says it is closed in its snapshot', () => {
    const balancer = createBalancer({ instances: pool(1), clock: manualClock() });
    expect(balancer.snapshot()).not.toHaveProperty('closed');
    balancer.close();
    expect(balancer.snapshot()).toMatchObject({ closed: true });
  });
});
