import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createBalancer,
  InvalidConfigError,
  seededRandom,
  type Balancer,
  type BalancerOptions,
  type DiscoverySink,
} from '@ballast/core';
import { Counter, register as globalRegistry, Registry, type OpenMetricsContentType } from 'prom-client';
import { collectMetrics } from '../src';

/** A clock the test moves by hand. */
function manualClock() {
  let now = 0;
  const clock = () => now;
  clock.advance = (ms: number) => void (now += ms);
  return clock;
}

function balancer(options: Partial<BalancerOptions> = {}): Balancer {
  return createBalancer({
    strategy: 'round-robin',
    clock: manualClock(),
    random: seededRandom(1),
    instances: [
      { id: 'a', url: 'http://10.0.0.1:3000' },
      { id: 'b', url: 'http://10.0.0.2:3000' },
    ],
    ...options,
  });
}

/** One line of the text exposition: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (match === null) throw new Error(`unparsable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels include `labels`; undefined if none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

async function scrape(registry: Pick<Registry, 'metrics'>): Promise<Sample[]> {
  return parse(await registry.metrics());
}

/** Serves `registry` at /metrics on 127.0.0.1, port 0, as a user would expose it. */
async function serveMetrics(registry: Registry): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    registry.metrics().then(
      (text) => {
        res.setHeader('content-type', registry.contentType);
        res.end(text);
      },
      () => {
        res.statusCode = 500;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function get(url: string): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, type: res.headers['content-type'], body }));
      })
      .on('error', reject);
  });
}

describe('collectMetrics', () => {
  it('counts released requests by instance and outcome, with their latency histogram, served at /metrics', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    const detach = collectMetrics(users, { registry });
    // round-robin: a, b, a, b; b fails once.
    const latencies = [3, 30, 300, 3_000];
    latencies.forEach((latencyMs, i) => {
      users.pick().release({ ok: i !== 3, latencyMs });
    });
    const server = await serveMetrics(registry);
    try {
      const reply = await get(server.url);
      expect(reply.status).toBe(200);
      expect(reply.type).toBe(registry.contentType);
      const samples = parse(reply.body);
      const a = { service: 'users', instance: 'a' };
      const b = { service: 'users', instance: 'b' };
      expect(value(samples, 'ballast_requests_total', { ...a, outcome: 'success' })).toBe(2);
      expect(value(samples, 'ballast_requests_total', { ...a, outcome: 'failure' })).toBe(0);
      expect(value(samples, 'ballast_requests_total', { ...b, outcome: 'success' })).toBe(1);
      expect(value(samples, 'ballast_requests_total', { ...b, outcome: 'failure' })).toBe(1);
      // a saw 3 ms and 300 ms; b saw 30 ms and 3 s.
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.005' })).toBe(1);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.25' })).toBe(1);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.5' })).toBe(2);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '+Inf' })).toBe(2);
      expect(value(samples, 'ballast_request_duration_seconds_sum', a)).toBeCloseTo(0.303, 9);
      expect(value(samples, 'ballast_request_duration_seconds_count', a)).toBe(2);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...b, le: '0.025' })).toBe(0);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...b, le: '0.05' })).toBe(1);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...b, le: '2.5' })).toBe(1);
      expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...b, le: '5' })).toBe(2);
      expect(value(samples, 'ballast_request_duration_seconds_sum', b)).toBeCloseTo(3.03, 9);
      // A second scrape hands nothing twice.
      const again = await scrape(registry);
      expect(value(again, 'ballast_requests_total', { ...a, outcome: 'success' })).toBe(2);
      expect(value(again, 'ballast_request_duration_seconds_count', b)).toBe(2);
    } finally {
      await server.close();
      detach();
    }
  });

  it('reports in-flight, health, ejection, instances by state and the strategy at scrape time', async () => {
    const users = balancer({
      service: 'users',
      health: { slowStart: false, outlier: { consecutiveFailures: 2, maxEjectionPercent: 50 } },
    });
    const registry = new Registry();
    collectMetrics(users, { registry });
    const held = [users.pick(), users.pick(), users.pick()];
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'a' })).toBe(2);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'b' })).toBe(1);
    expect(value(samples, 'ballast_instance_health', { instance: 'a' })).toBe(1);
    expect(value(samples, 'ballast_instances', { service: 'users', state: 'healthy' })).toBe(2);
    expect(value(samples, 'ballast_instances', { service: 'users', state: 'ejected' })).toBe(0);
    expect(value(samples, 'ballast_strategy_info', { service: 'users', strategy: 'round-robin' })).toBe(1);

    for (const lease of held) lease.release({ ok: lease.instance.id !== 'b', latencyMs: 1 });
    users.pick({ exclude: ['a'] }).release({ ok: false, latencyMs: 1 });
    expect(users.get('b')!.state).toBe('ejected');
    samples = await scrape(registry);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'a' })).toBe(0);
    expect(value(samples, 'ballast_instance_ejected', { instance: 'b' })).toBe(1);
    expect(value(samples, 'ballast_instance_ejected', { instance: 'a' })).toBe(0);
    expect(value(samples, 'ballast_instance_health', { instance: 'b' })).toBeLessThan(1);
    expect(value(samples, 'ballast_instances', { service: 'users', state: 'healthy' })).toBe(1);
    expect(value(samples, 'ballast_instances', { service: 'users', state: 'ejected' })).toBe(1);
  });

  it('reports the discovery state and the age of the last good list, for a balancer fed by discovery', async () => {
    const clock = manualClock();
    let sink: DiscoverySink | undefined;
    const users = createBalancer({
      service: 'users',
      clock,
      discovery: {
        name: 'etcd:/ballast/services/users/',
        subscribe(s) {
          sink = s;
          return () => {};
        },
      },
    });
    const registry = new Registry();
    collectMetrics(users, { registry });
    const source = 'etcd:/ballast/services/users/';
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_discovery_state', { service: 'users', source, state: 'pending' })).toBe(1);
    expect(value(samples, 'ballast_discovery_update_age_seconds', { service: 'users' })).toBeUndefined();

    sink!.update([{ id: 'a', url: 'http://10.0.0.1:3000' }]);
    clock.advance(1_500);
    sink!.error(new Error('etcd unavailable'));
    samples = await scrape(registry);
    expect(value(samples, 'ballast_discovery_state', { service: 'users', source, state: 'failing' })).toBe(1);
    expect(value(samples, 'ballast_discovery_state', { service: 'users', source, state: 'ok' })).toBe(0);
    expect(value(samples, 'ballast_discovery_update_age_seconds', { service: 'users' })).toBe(1.5);
    expect(value(samples, 'ballast_instances', { service: 'users', state: 'healthy' })).toBe(1);

    // A balancer without discovery has no discovery series.
    collectMetrics(balancer({ service: 'orders' }), { registry });
    samples = await scrape(registry);
    expect(value(samples, 'ballast_discovery_update_age_seconds', { service: 'orders' })).toBeUndefined();
    users.close();
  });

  it('counts retries and picks that found no instance, and adaptive strategy switches', async () => {
    const users = balancer({ service: 'users', instances: [{ id: 'a', url: 'http://10.0.0.1:3000' }] });
    const registry = new Registry();
    collectMetrics(users, { registry });
    expect(value(await scrape(registry), 'ballast_retries_total', { service: 'users' })).toBe(0);
    const first = users.pick();
    expect(() => users.pick({ exclude: ['a'], retry: true })).toThrow();
    users.pick({ retry: true }).release({ ok: true });
    expect(() => users.pick({ exclude: ['a'] })).toThrow();
    first.release({ ok: false });
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_retries_total', { service: 'users' })).toBe(1);
    expect(value(samples, 'ballast_no_instance_total', { service: 'users' })).toBe(1);
    expect(value(samples, 'ballast_strategy_switches_total', { service: 'users' })).toBe(0);

    // An adaptive balancer whose latencies diverge switches from least-connections to peak-ewma.
    const clock = manualClock();
    const orders = createBalancer({
      service: 'orders',
      strategy: 'adaptive',
      clock,
      random: seededRandom(4),
      instances: ['http://10.0.0.1:1', 'http://10.0.0.2:1', 'http://10.0.0.3:1'],
    });
    collectMetrics(orders, { registry });
    for (let t = 0; t < 30_000; t += 10) {
      clock.advance(10);
      const lease = orders.pick();
      lease.release({ ok: true, latencyMs: lease.instance.url.includes('10.0.0.3') ? 40 : 10 });
    }
    expect(orders.snapshot().activeStrategy).toBe('peak-ewma');
    samples = await scrape(registry);
    expect(value(samples, 'ballast_strategy_switches_total', { service: 'orders' })).toBe(1);
    expect(value(samples, 'ballast_strategy_info', { service: 'orders', strategy: 'peak-ewma' })).toBe(1);
    expect(
      value(samples, 'ballast_strategy_info', { service: 'orders', strategy: 'least-connections' }),
    ).toBe(0);
    expect(value(samples, 'ballast_strategy_info', { service: 'users', strategy: 'round-robin' })).toBe(1);
  });

  it('never touches the global registry unless given it; returns the one it made', async () => {
    const before = globalRegistry.getMetricsAsArray().length;
    const detach = collectMetrics(balancer());
    expect(detach.registry).toBeInstanceOf(Registry);
    expect(detach.registry).not.toBe(globalRegistry);
    expect(globalRegistry.getMetricsAsArray()).toHaveLength(before);
    expect(value(await scrape(detach.registry), 'ballast_instances', { state: 'healthy' })).toBe(2);
    detach();
  });

  it('gets or creates: a second call, or one per balancer, never throws and never counts twice', async () => {
    const users = balancer({ service: 'users' });
    const orders = balancer({ service: 'orders' });
    const registry = new Registry();
    const first = collectMetrics(users, { registry });
    const second = collectMetrics([users, orders], { registry });
    const third = collectMetrics(orders, { registry });
    users.pick().release({ ok: true, latencyMs: 5 });
    orders.pick().release({ ok: true, latencyMs: 5 });
    let samples = await scrape(registry);
    expect(
      value(samples, 'ballast_requests_total', { service: 'users', instance: 'a', outcome: 'success' }),
    ).toBe(1);
    expect(
      value(samples, 'ballast_requests_total', { service: 'orders', instance: 'a', outcome: 'success' }),
    ).toBe(1);

    // Still attached by `second`: detaching `first` changes nothing.
    first();
    first();
    users.pick().release({ ok: true, latencyMs: 5 });
    samples = await scrape(registry);
    expect(
      value(samples, 'ballast_requests_total', { service: 'users', instance: 'b', outcome: 'success' }),
    ).toBe(1);

    // The last detach removes the balancer's series; orders stays attached by `third`.
    second();
    samples = await scrape(registry);
    expect(samples.filter((s) => s.labels.service === 'users')).toEqual([]);
    expect(value(samples, 'ballast_instances', { service: 'orders', state: 'healthy' })).toBe(2);
    third();
    expect((await scrape(registry)).filter((s) => s.labels.service !== undefined)).toEqual([]);
  });

  it('keeps metrics with another prefix apart, in the same registry', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    collectMetrics(users, { registry });
    collectMetrics(users, { registry, prefix: 'edge_' });
    users.pick().release({ ok: true, latencyMs: 1 });
    const samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', { instance: 'a', outcome: 'success' })).toBe(1);
    expect(value(samples, 'edge_requests_total', { instance: 'a', outcome: 'success' })).toBe(1);
  });

  it('labels with metadata only what is allowed by name', async () => {
    const users = balancer({
      service: 'users',
      instances: [{ id: 'a', url: 'http://10.0.0.1:3000', metadata: { region: 'eu', pod: 'users-7f9c' } }],
    });
    const registry = new Registry();
    collectMetrics(users, { registry, metadataLabels: ['region'] });
    users.pick().release({ ok: true, latencyMs: 1 });
    let samples = await scrape(registry);
    const requests = samples.filter((s) => s.name === 'ballast_requests_total');
    expect(requests.map((s) => s.labels)).toEqual([
      { service: 'users', instance: 'a', region: 'eu', outcome: 'success' },
      { service: 'users', instance: 'a', region: 'eu', outcome: 'failure' },
    ]);
    expect(samples.some((s) => 'pod' in s.labels)).toBe(false);

    // Without metadataLabels, metadata never becomes a label.
    const plain = new Registry();
    collectMetrics(users, { registry: plain });
    users.pick().release({ ok: true, latencyMs: 1 });
    expect((await scrape(plain)).some((s) => 'region' in s.labels || 'pod' in s.labels)).toBe(false);

    // A change of labelled metadata moves the instance to a new series; the old one is
    // reported by one more scrape, then dropped.
    users.update('a', { metadata: { region: 'us' } });
    users.pick().release({ ok: true, latencyMs: 1 });
    samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', { region: 'eu', outcome: 'success' })).toBe(2);
    expect(value(samples, 'ballast_requests_total', { region: 'us', outcome: 'success' })).toBe(1);
    samples = await scrape(registry);
    expect(samples.some((s) => s.name === 'ballast_requests_total' && s.labels.region === 'eu')).toBe(false);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'a', region: 'us' })).toBe(0);
  });

  it('drops the series of a removed instance once it has drained', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    collectMetrics(users, { registry });
    users.pick().release({ ok: true, latencyMs: 1 });
    const lease = users.pick({ exclude: ['a'] });
    users.remove('b');
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'b' })).toBe(1);
    expect(value(samples, 'ballast_instances', { state: 'draining' })).toBe(1);
    lease.release({ ok: true, latencyMs: 1 });
    samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', { instance: 'b', outcome: 'success' })).toBe(1);
    samples = await scrape(registry);
    expect(samples.filter((s) => s.labels.instance === 'b')).toEqual([]);
    expect(value(samples, 'ballast_requests_total', { instance: 'a', outcome: 'success' })).toBe(1);

    // An instance added later takes b's place in the balancer's tables: its numbers start at 0.
    users.add({ id: 'c', url: 'http://10.0.0.3:3000' });
    users.pick({ exclude: ['a'] }).release({ ok: false, latencyMs: 2_000 });
    samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', { instance: 'c', outcome: 'failure' })).toBe(1);
    expect(value(samples, 'ballast_requests_total', { instance: 'c', outcome: 'success' })).toBe(0);
    expect(value(samples, 'ballast_request_duration_seconds_sum', { instance: 'c' })).toBe(2);
    expect(value(samples, 'ballast_request_duration_seconds_count', { instance: 'a' })).toBe(1);
  });

  it('moves a series out of a slot reused before a scrape, and reports both', async () => {
    const users = balancer({ service: 'users', health: { slowStart: false } });
    const registry = new Registry();
    collectMetrics(users, { registry });
    users.pick({ exclude: ['a'] }).release({ ok: true, latencyMs: 1 });
    users.remove('b');
    users.add({ id: 'c', url: 'http://10.0.0.3:3000' });
    users.pick({ exclude: ['a'] }).release({ ok: true, latencyMs: 30 });
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_request_duration_seconds_sum', { instance: 'b' })).toBe(0.001);
    expect(value(samples, 'ballast_request_duration_seconds_sum', { instance: 'c' })).toBe(0.03);
    samples = await scrape(registry);
    expect(samples.filter((s) => s.labels.instance === 'b')).toEqual([]);
    expect(value(samples, 'ballast_requests_total', { instance: 'c', outcome: 'success' })).toBe(1);
  });

  it('keeps counting an id removed and added again, in one label set, whether or not a scrape came between', async () => {
    const users = balancer({ service: 'users', health: { slowStart: false } });
    const registry = new Registry();
    collectMetrics(users, { registry });
    const readd = () => {
      users.remove('a');
      users.add({ id: 'a', url: 'http://10.0.0.1:3000' });
    };
    const a = { instance: 'a' };
    const success = { instance: 'a', outcome: 'success' };

    // Removed and added again before a scrape: the old and the new series are one label set.
    users.pick({ exclude: ['b'] }).release({ ok: true, latencyMs: 1 });
    readd();
    users.pick({ exclude: ['b'] }).release({ ok: true, latencyMs: 1 });
    let samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', success)).toBe(2);
    expect(value(samples, 'ballast_request_duration_seconds_count', a)).toBe(2);
    expect(value(samples, 'ballast_request_duration_seconds_bucket', { ...a, le: '0.005' })).toBe(2);
    // The old series is dropped; the counts go on, they never start over.
    samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', success)).toBe(2);
    expect(value(samples, 'ballast_request_duration_seconds_count', a)).toBe(2);

    // Removed, scraped, then added again: nothing is lost either.
    users.remove('a');
    samples = await scrape(registry);
    expect(value(samples, 'ballast_requests_total', success)).toBe(2);
    users.add({ id: 'a', url: 'http://10.0.0.1:3000' });
    users.pick({ exclude: ['b'] }).release({ ok: true, latencyMs: 1 });
    for (let i = 0; i < 2; i++) {
      samples = await scrape(registry);
      expect(value(samples, 'ballast_requests_total', success)).toBe(3);
      expect(value(samples, 'ballast_request_duration_seconds_count', a)).toBe(3);
      expect(value(samples, 'ballast_request_duration_seconds_sum', a)).toBeCloseTo(0.003, 9);
    }
  });

  it('reports an id draining beside its successor as one set of gauges: in-flight summed, the current health', async () => {
    const users = balancer({ service: 'users', health: { slowStart: false } });
    const registry = new Registry();
    collectMetrics(users, { registry });
    const old = users.pick({ exclude: ['b'] });
    users.remove('a');
    users.add({ id: 'a', url: 'http://10.0.0.1:3000' });
    const fresh = users.pick({ exclude: ['b'] });
    expect(users.eject('a', 'test')).toBe(true);
    const samples = await scrape(registry);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'a' })).toBe(2);
    expect(value(samples, 'ballast_instance_ejected', { instance: 'a' })).toBe(1);
    expect(value(samples, 'ballast_instances', { state: 'draining' })).toBe(1);
    old.release({ ok: true, latencyMs: 1 });
    fresh.release({ ok: true, latencyMs: 1 });
  });

  it('gives a metadata label that Object.prototype has a name for "" on an instance without the key', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    collectMetrics(users, { registry, metadataLabels: ['constructor', 'toString'] });
    users.pick().release({ ok: true, latencyMs: 1 });
    const samples = await scrape(registry);
    expect(value(samples, 'ballast_inflight_requests', { instance: 'a' })).toBe(0);
    const labels = samples.find((s) => s.name === 'ballast_inflight_requests')!.labels;
    expect([labels.constructor, labels.toString]).toEqual(['', '']);
    expect(
      value(samples, 'ballast_requests_total', { instance: 'a', outcome: 'success', constructor: '' }),
    ).toBe(1);
  });

  it('supports JSON export and resetMetrics of the registry', async () => {
    const users = balancer({ service: 'users' });
    const registry = new Registry();
    collectMetrics(users, { registry, buckets: [0.01, 0.1] });
    users.pick().release({ ok: true, latencyMs: 50 });
    const json = await registry.getMetricsAsJSON();
    const histogram = json.find((m) => m.name === 'ballast_request_duration_seconds')!;
    expect(histogram.type).toBe('histogram');
    expect(histogram.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ value: 0, labels: { service: 'users', instance: 'a', le: 0.01 } }),
        expect.objectContaining({ value: 1, labels: { service: 'users', instance: 'a', le: 0.1 } }),
      ]),
    );
    registry.resetMetrics();
    const samples = await scrape(registry);
    expect(value(samples, 'ballast_request_duration_seconds_count', { instance: 'a' })).toBe(0);
    expect(value(samples, 'ballast_requests_total', { instance: 'a', outcome: 'success' })).toBe(0);
  });

  it('renders in an OpenMetrics registry too', async () => {
    const users = balancer({ service: 'users' });
    // The typings declare no constructor argument; setContentType is the typed way.
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    collectMetrics(users, { registry });
    users.pick().release({ ok: true, latencyMs: 20 });
    const text = await registry.metrics();
    expect(text.endsWith('# EOF\n')).toBe(true);
    const samples = parse(text.replace('# EOF\n', ''));
    expect(value(samples, 'ballast_requests_total', { instance: 'a', outcome: 'success' })).toBe(1);
    expect(value(samples, 'ballast_request_duration_seconds_bucket', { instance: 'a', le: '0.025' })).toBe(1);
    expect(value(samples, 'ballast_request_duration_seconds_bucket', { instance: 'a', le: '0.01' })).toBe(0);
  });

  describe('invalid configuration throws InvalidConfigError naming the field and the value', () => {
    const registry = new Registry();
    it.each([
      [42, undefined, 'balancer'],
      [[{}], undefined, 'balancer[0]'],
      [null, { registry: {} }, 'balancer'],
      ['B', { registry: {} }, 'registry'],
      ['B', { prefix: 'bad-prefix' }, 'prefix'],
      ['B', { buckets: [] }, 'buckets'],
      ['B', { buckets: [0.5, 0.1] }, 'buckets'],
      ['B', { buckets: [0.1, Number.NaN] }, 'buckets'],
      ['B', { metadataLabels: ['service'] }, 'metadataLabels[0]'],
      ['B', { metadataLabels: ['ok', 'not ok'] }, 'metadataLabels[1]'],
      ['B', { metadataLabels: 'region' }, 'metadataLabels'],
      ['B', { registry, colour: 'blue' }, 'colour'],
      ['B', 'options', 'options'],
    ])('%p with %p fails on %s', (target, options, field) => {
      const subject = target === 'B' ? balancer() : target;
      let error: unknown;
      try {
        collectMetrics(subject as Balancer, options as never);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidConfigError);
      expect((error as InvalidConfigError).field).toBe(field);
      expect((error as InvalidConfigError).message).toContain(field);
    });

    it('lets a new balancer take the service name of a closed one (a restart) without a detach', async () => {
      // The closed balancer's attachment held the name until its collector was detached: a
      // service that rebuilt its balancer (a reload, a test) got "another balancer" thrown at it.
      const registry = new Registry();
      const old = balancer({ service: 'users' });
      collectMetrics(old, { registry });
      old.pick().release({ ok: true, latencyMs: 5 });
      old.close();
      const next = balancer({ service: 'users', instances: [{ id: 'c', url: 'http://10.0.0.3:3000' }] });
      const detach = collectMetrics(next, { registry });
      next.pick().release({ ok: true, latencyMs: 5 });
      const samples = parse(await registry.metrics());
      expect(value(samples, 'ballast_instance_health', { service: 'users', instance: 'c' })).toBe(1);
      expect(value(samples, 'ballast_instance_health', { service: 'users', instance: 'a' })).toBeUndefined();
      expect(
        value(samples, 'ballast_requests_total', { service: 'users', instance: 'c', outcome: 'success' }),
      ).toBe(1);
      detach();
      // A balancer still open keeps the name to itself.
      expect(() => collectMetrics(balancer({ service: 'users' }), { registry })).not.toThrow();
      expect(() => collectMetrics(balancer({ service: 'users' }), { registry })).toThrow(
        expect.objectContaining({ field: 'balancer.service' }),
      );
    });

    it('rejects two balancers with one service name, and metric names taken by something else', () => {
      const registry = new Registry();
      collectMetrics(balancer({ service: 'users' }), { registry });
      expect(() => collectMetrics(balancer({ service: 'users' }), { registry })).toThrow(
        expect.objectContaining({ field: 'balancer.service', value: 'users' }),
      );
      expect(() =>
        collectMetrics([balancer({ service: 'x' }), balancer({ service: 'x' })], { registry }),
      ).toThrow(expect.objectContaining({ field: 'balancer[1].service' }));
      // The failed call attached nothing: "x" is free for a balancer of its own.
      expect(() => collectMetrics(balancer({ service: 'x' }), { registry })).not.toThrow();

      const taken = new Registry();
      new Counter({ name: 'ballast_retries_total', help: 'mine', registers: [taken] });
      expect(() => collectMetrics(balancer(), { registry: taken })).toThrow(
        expect.objectContaining({ field: 'prefix', value: 'ballast_' }),
      );
      expect(() => collectMetrics(balancer(), { registry, buckets: [1, 2] })).toThrow(
        expect.objectContaining({ field: 'buckets' }),
      );
    });
  });
});
