// Gauges agree with balancer.snapshot(); detaching leaves no listener or observer behind.
import { createBalancer, seededRandom, type Balancer, type BalancerOptions } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { parseExposition, sampleValue } from './exposition';

const scrape = async (r: Registry) => parseExposition(await r.metrics());

function make(options: Partial<BalancerOptions> = {}): Balancer & { clockAdvance(ms: number): void } {
  let now = 0;
  const b = createBalancer({
    strategy: 'round-robin',
    clock: () => now,
    random: seededRandom(3),
    health: { slowStart: false },
    instances: [
      { id: 'a', url: 'http://10.0.0.1:3000' },
      { id: 'b', url: 'http://10.0.0.2:3000' },
      { id: 'c', url: 'http://10.0.0.3:3000' },
    ],
    ...options,
  });
  return Object.assign(b, { clockAdvance: (ms: number) => void (now += ms) });
}

/** Listeners and release observers the balancer holds (internal fields, for leak checks only). */
function hooks(b: Balancer): { listeners: number; observers: number } {
  const internal = b as unknown as {
    events: { listeners: Map<string, unknown[]> };
    releaseObservers: readonly unknown[] | undefined;
  };
  let listeners = 0;
  for (const list of internal.events.listeners.values()) listeners += list.length;
  return { listeners, observers: internal.releaseObservers?.length ?? 0 };
}

async function checkAgainstSnapshot(registry: Registry, b: Balancer): Promise<void> {
  const samples = await scrape(registry);
  const snap = b.snapshot();
  const byState = new Map<string, number>();
  for (const i of snap.instances) byState.set(i.state, (byState.get(i.state) ?? 0) + 1);
  for (const state of ['healthy', 'slow-start', 'unhealthy', 'ejected', 'draining'])
    expect([state, sampleValue(samples, 'ballast_instances', { service: snap.service, state })]).toEqual([
      state,
      byState.get(state) ?? 0,
    ]);
  for (const i of snap.instances) {
    const labels = { service: snap.service, instance: i.id };
    expect([i.id, sampleValue(samples, 'ballast_instance_health', labels)]).toEqual([i.id, i.health]);
    expect([i.id, sampleValue(samples, 'ballast_instance_ejected', labels)]).toEqual([
      i.id,
      i.state === 'ejected' ? 1 : 0,
    ]);
    expect([i.id, sampleValue(samples, 'ballast_inflight_requests', labels)]).toEqual([i.id, i.inflight]);
  }
  const ids = new Set(snap.instances.map((i) => i.id));
  for (const s of samples)
    if (s.name === 'ballast_instance_health' && s.labels.service === snap.service)
      expect(ids.has(s.labels.instance!)).toBe(true);
  expect(
    sampleValue(samples, 'ballast_strategy_info', { service: snap.service, strategy: snap.activeStrategy }),
  ).toBe(1);
}

describe('gauges', () => {
  it('match snapshot() through add, remove (draining), update, eject, restore and close', async () => {
    const b = make({ service: 'g' });
    const registry = new Registry();
    const detach = collectMetrics(b, { registry });
    await checkAgainstSnapshot(registry, b);
    const l1 = b.pick();
    const l2 = b.pick();
    await checkAgainstSnapshot(registry, b);
    b.add({ id: 'd', url: 'http://10.0.0.4:3000' });
    await checkAgainstSnapshot(registry, b);
    b.remove(l1.instance.id);
    await checkAgainstSnapshot(registry, b);
    b.update('c', { weight: 3 });
    expect(b.eject('c', 'audit')).toBe(true);
    await checkAgainstSnapshot(registry, b);
    b.reportCheck('c', true);
    await checkAgainstSnapshot(registry, b);
    l1.release({ ok: true, latencyMs: 1 });
    await checkAgainstSnapshot(registry, b);
    b.close();
    await checkAgainstSnapshot(registry, b);
    l2.release({ ok: false, latencyMs: 1 });
    await checkAgainstSnapshot(registry, b);
    detach();
  });
});

describe('listener hygiene', () => {
  it('detach leaves the balancer with exactly the listeners and observers it had before', () => {
    const b = make({
      service: 'h',
      instances: [{ id: 'a', url: 'http://10.0.0.1:3000', metadata: { z: '1' } }],
    });
    b.on('release', () => {});
    const before = hooks(b);
    const registry = new Registry();
    const d1 = collectMetrics(b, { registry, metadataLabels: ['z'] });
    const d2 = collectMetrics(b, { registry, metadataLabels: ['z'] });
    const d3 = collectMetrics(b, { registry: new Registry(), prefix: 'x_', metadataLabels: ['z'] });
    expect(hooks(b).observers).toBe(before.observers + 2);
    d1();
    d2();
    d2();
    d3();
    expect(hooks(b)).toEqual(before);
  });

  it('registry.clear() and a new collectMetrics leave one observer, and detaching both leaves none', async () => {
    const b = make({ service: 'h2' });
    const before = hooks(b);
    const registry = new Registry();
    const d1 = collectMetrics(b, { registry });
    registry.clear();
    const d2 = collectMetrics(b, { registry });
    expect(hooks(b).observers).toBe(before.observers + 1);
    b.pick().release({ ok: true, latencyMs: 3 });
    expect(
      sampleValue(await scrape(registry), 'ballast_requests_total', {
        service: 'h2',
        outcome: 'success',
        instance: 'a',
      }),
    ).toBe(1);
    d1();
    // d1 belonged to the cleared metrics: the live ones still count
    b.pick().release({ ok: true, latencyMs: 3 });
    expect(
      sampleValue(await scrape(registry), 'ballast_requests_total', {
        service: 'h2',
        outcome: 'success',
        instance: 'b',
      }),
    ).toBe(1);
    d2();
    expect(hooks(b)).toEqual(before);
  });
});
