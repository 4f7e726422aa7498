import { InvalidConfigError, NoInstanceError, type Balancer, type BalancerEvents } from '../src';
import { pool, testBalancer } from './helpers';

function record<E extends keyof BalancerEvents>(balancer: Balancer, event: E): BalancerEvents[E][] {
  const seen: BalancerEvents[E][] = [];
  balancer.on(event, (e) => seen.push(e));
  return seen;
}

interface Line {
  level: string;
  fields: Record<string, unknown>;
  msg: string | undefined;
}

function capture() {
  const lines: Line[] = [];
  const at = (level: string) => (fields: object, msg?: string) =>
    void lines.push({ level, fields: fields as Record<string, unknown>, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

describe('retry and no-instance events', () => {
  it('emits retry for a successful pick with retry: true, with the lease it made', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', service: 'users' });
    const retries = record(balancer, 'retry');
    const first = balancer.pick();
    expect(retries).toEqual([]);
    const again = balancer.pick({ exclude: [first.instance.id], retry: true });
    expect(retries).toEqual([{ service: 'users', lease: again }]);
    expect(again.instance.id).not.toBe(first.instance.id);
  });

  it('emits no-instance with the reason for a failed pick, but not for a failed retry', () => {
    const { balancer } = testBalancer({ instances: pool(1), service: 'users' });
    const misses = record(balancer, 'no-instance');
    const retries = record(balancer, 'retry');
    expect(() => balancer.pick({ exclude: ['i0'], retry: true })).toThrow(NoInstanceError);
    expect(misses).toEqual([]);
    expect(() => balancer.pick({ exclude: ['i0'] })).toThrow(NoInstanceError);
    expect(misses).toHaveLength(1);
    expect(misses[0]).toMatchObject({ service: 'users', reason: 'every candidate is excluded' });
    expect(misses[0]!.error).toBeInstanceOf(NoInstanceError);
    expect(retries).toEqual([]);
  });
});

describe('release observers', () => {
  it('see every release with the instance, ok, latency and slot, until removed; a throwing one is logged', () => {
    const { lines, logger } = capture();
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(2), logger });
    const seen: [string, boolean, number, number][] = [];
    const stop = balancer.observeReleases((instance, ok, slot) =>
      seen.push([instance.id, ok, instance.lastLatencyMs, slot]),
    );
    balancer.observeReleases(() => {
      throw new Error('observer bug');
    });
    balancer.pick().release({ ok: true, latencyMs: 3 });
    balancer.pick().release({ ok: false, latencyMs: 7 });
    expect(seen).toEqual([
      ['i0', true, 3, 0],
      ['i1', false, 7, 1],
    ]);
    expect(lines.filter((l) => l.msg === 'ballast: release observer threw; ignored')).toHaveLength(2);
    stop();
    stop();
    balancer.pick().release({ ok: true, latencyMs: 1 });
    expect(seen).toHaveLength(2);
    expect(() => balancer.observeReleases('nope' as never)).toThrow(InvalidConfigError);
  });

  it('give a slot that stays unique among live and draining instances and is reused once one is gone', () => {
    const { balancer } = testBalancer({ strategy: 'round-robin', instances: pool(2) });
    const slots = new Map<string, number>();
    balancer.observeReleases((instance, _ok, slot) => slots.set(instance.id, slot));
    const held = balancer.pick({ exclude: ['i0'] });
    balancer.remove('i1');
    balancer.add({ id: 'new', url: 'http://127.0.0.1:9000' });
    held.release({ ok: true, latencyMs: 1 });
    balancer.pick({ exclude: ['i0'] }).release({ ok: true, latencyMs: 1 });
    expect(slots.get('new')).not.toBe(slots.get('i1'));
    balancer.remove('new');
    balancer.add({ id: 'later', url: 'http://127.0.0.1:9001' });
    balancer.pick({ exclude: ['i0'] }).release({ ok: true, latencyMs: 1 });
    expect(new Set([slots.get('i1'), slots.get('new')])).toContain(slots.get('later'));
  });
});

describe('state-change logs', () => {
  it('logs add, update and remove at info with service, instance and reason', () => {
    const { lines, logger } = capture();
    const { balancer } = testBalancer({ service: 'users', logger });
    expect(lines).toEqual([]);
    balancer.add({ id: 'new', url: 'http://127.0.0.1:9999' });
    balancer.update('new', { weight: 3 });
    balancer.remove('new');
    expect(lines.map((l) => [l.level, l.msg, l.fields.service, l.fields.instance, l.fields.reason])).toEqual([
      ['info', 'ballast: instance added', 'users', 'new', 'added'],
      ['info', 'ballast: instance updated', 'users', 'new', 'updated'],
      ['info', 'ballast: instance removed', 'users', 'new', 'removed'],
    ]);
  });

  it('logs ejection and panic at warn, their end at info, each with a reason; a missed pick at debug', () => {
    const { lines, logger } = capture();
    const { balancer } = testBalancer({
      service: 'users',
      logger,
      instances: pool(2),
      health: { slowStart: false, outlier: { consecutiveFailures: 1 } },
    });
    balancer.reportCheck('i0', false);
    balancer.reportCheck('i1', false);
    expect(() => balancer.pick({ match: { zone: 'nowhere' } })).toThrow(NoInstanceError);

    const panic = lines.find((l) => l.msg?.startsWith('ballast: panic mode,'));
    expect(panic).toMatchObject({ level: 'warn', fields: { service: 'users', reason: 'too-few-healthy' } });
    const down = lines.filter((l) => l.msg === 'ballast: instance state changed');
    expect(down.map((l) => [l.level, l.fields.instance, l.fields.reason])).toEqual([
      ['warn', 'i0', 'check-failed'],
      ['warn', 'i1', 'check-failed'],
    ]);
    expect(lines.filter((l) => l.msg === 'ballast: no instance available')).toEqual([
      {
        level: 'debug',
        msg: 'ballast: no instance available',
        fields: { service: 'users', reason: 'no instance matches' },
      },
    ]);

    balancer.reportCheck('i0', true);
    balancer.reportCheck('i1', true);
    balancer.pick().release({ ok: true, latencyMs: 1 });
    const over = lines.find((l) => l.msg === 'ballast: panic mode over');
    expect(over).toMatchObject({ level: 'info', fields: { service: 'users', reason: 'enough-healthy' } });
  });
});
