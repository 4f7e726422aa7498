import { createBalancer } from '@ballast/core';
import { createStatusHandler, type StatusSnapshot } from '../src';
import { ServiceRecorder } from '../src/status-recorder';
import { cleanup, gateway, listen, send } from './helpers';

afterEach(cleanup);

/** An upstream that answers after `delayMs`, with 500 on the requests whose path ends in `/fail`. */
function delayed(delayMs: number) {
  return listen((req, res) => {
    setTimeout(() => {
      res.statusCode = req.url!.endsWith('/fail') ? 500 : 200;
      res.end('x');
    }, delayMs);
  });
}

/** README bound: the upper edge of a log-linear bucket of `1 + ms` cut in 8. */
const edge = (ms: number) => 1.125 * (1 + ms);

test('known traffic through a real proxy: counts, error rates, rate and percentiles match what was sent', async () => {
  const fast = await delayed(20);
  const slow = await delayed(80);
  const balancer = createBalancer({
    service: 'users',
    strategy: 'round-robin',
    instances: [
      { id: 'fast', url: fast.url },
      { id: 'slow', url: slow.url },
    ],
    health: { outlier: { consecutiveFailures: 1000 } },
  });
  const status = createStatusHandler(balancer);
  const gw = await gateway(balancer, { retries: 0 });
  const seen: Record<string, { n: number; fail: number; ms: number[] }> = {
    fast: { n: 0, fail: 0, ms: [] },
    slow: { n: 0, fail: 0, ms: [] },
  };
  const started = performance.now();
  for (let i = 0; i < 24; i++) {
    const fail = i % 8 < 2; // 6 of 24 fail: 3 on each instance (round-robin alternates)
    const t0 = performance.now();
    const res = await send(gw.url, { path: fail ? `/r/${i}/fail` : `/r/${i}` });
    const ms = performance.now() - t0;
    const id = i % 2 === 0 ? 'fast' : 'slow';
    expect(res.status).toBe(fail ? 500 : 200);
    seen[id]!.n++;
    if (fail) seen[id]!.fail++;
    seen[id]!.ms.push(ms);
  }
  const body = await send((await listen(status)).url, { path: '/snapshot.json' });
  const elapsedS = (performance.now() - started) / 1000;
  const snap = JSON.parse(body.text) as StatusSnapshot;
  for (const row of snap.services[0]!.instances) {
    const own = seen[row.id]!;
    const lower = row.id === 'fast' ? 20 : 80;
    expect(row.recent.requests).toBe(own.n);
    expect(row.requests).toBe(own.n);
    expect(row.recent.errorRate).toBeCloseTo(own.fail / own.n, 10);
    expect(row.series.requests.reduce((a, b) => a + b, 0)).toBe(own.n);
    expect(row.series.failures.reduce((a, b) => a + b, 0)).toBe(own.fail);
    // The proxy's latency (to the response head) lies between the upstream's delay and what the
    // client saw; the percentile is a bucket's upper edge above it.
    const sorted = own.ms.slice().sort((a, b) => a - b);
    expect(row.recent.p50Ms).toBeGreaterThanOrEqual(lower);
    expect(row.recent.p50Ms).toBeLessThanOrEqual(edge(sorted[Math.ceil(0.5 * own.n) - 1]!));
    expect(row.recent.p99Ms).toBeGreaterThanOrEqual(lower);
    expect(row.recent.p99Ms).toBeLessThanOrEqual(edge(sorted.at(-1)!));
    // A young window (< 10 s old) is rated over its age: n over [first request, now].
    expect(row.recent.requestsPerSecond).toBeGreaterThanOrEqual(own.n / Math.max(elapsedS + 0.2, 1));
    expect(row.recent.requestsPerSecond).toBeLessThanOrEqual(own.n / Math.max(elapsedS - 0.3, 1) + 0.01);
    // 3 of 12 failed: 25 %, the trouble threshold, over at least 5 requests.
    expect(row).toMatchObject({ level: 'trouble', reasons: ['error rate 25 %'] });
  }
  // Both instances are in trouble: nothing takes new requests.
  expect(snap.services[0]!.level).toBe('trouble');

  // Removed and added again with the same id: the newcomer starts from nothing, then counts its own.
  balancer.remove('fast');
  balancer.add({ id: 'fast', url: fast.url });
  const fresh = status.snapshot().services[0]!.instances.find((i) => i.id === 'fast')!;
  expect(fresh.recent).toMatchObject({ requests: 0, errorRate: 0, p50Ms: null });
  expect(fresh).toMatchObject({ requests: 0, state: 'slow-start', level: 'warn', reasons: ['slow start'] });
  for (let i = 0; i < 6; i++) expect((await send(gw.url, { path: `/again/${i}` })).status).toBe(200);
  const after = status.snapshot().services[0]!.instances.find((i) => i.id === 'fast')!;
  expect(after.recent.requests).toBe(after.requests);
  expect(after.recent.errorRate).toBe(0);
  expect(after.series.requests.reduce((a, b) => a + b, 0)).toBe(after.requests);
  expect(after.requests).toBeGreaterThan(0);
  status.close();
  balancer.close();
}, 20_000);

test('window boundaries on the injected clock: a second counts for 10 s in recent, historySeconds in the series', () => {
  let nowMs = 5_000_000; // an exact second S
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const recorder = new ServiceRecorder(balancer, 20, () => nowMs);
  // 10 requests in second S (3 failed, 7..16 ms), then one in second S+3.
  for (let i = 0; i < 10; i++) balancer.pick().release({ ok: i >= 3, latencyMs: 7 + i });
  nowMs += 3_000;
  balancer.pick().release({ ok: true, latencyMs: 100 });
  const at = (ms: number) => recorder.status(false, ms, 20).instances[0]!;

  const last = at(5_000_000 + 9_999); // second S+9: S still in the window
  expect(last.recent).toMatchObject({ requests: 11, errorRate: 3 / 11 });
  expect(last.level).toBe('trouble');
  const gone = at(5_000_000 + 10_000); // second S+10: S has left it
  expect(gone.recent).toMatchObject({ requests: 1, errorRate: 0 });
  expect(gone.recent.p99Ms).toBeGreaterThanOrEqual(100);
  expect(gone.level).toBe('ok');
  expect(gone.series.requests).toEqual([10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
  expect(gone.series.failures[0]).toBe(3);
  expect(gone.series.p99Ms[0]).toBeGreaterThanOrEqual(16);
  expect(gone.series.p99Ms[0]).toBeLessThanOrEqual(edge(16));
  expect(at(5_000_000 + 12_999).recent.requests).toBe(1); // S+12: S+3 still in
  expect(at(5_000_000 + 13_000).recent).toMatchObject({ requests: 0, p99Ms: null }); // S+13: gone
  // The series keeps historySeconds (20) points, then drops S.
  const s19 = at(5_000_000 + 19_500).series.requests;
  expect(s19).toHaveLength(20);
  expect(s19[0]).toBe(10);
  const s20 = at(5_000_000 + 20_000).series.requests;
  expect(s20).toHaveLength(20);
  expect(s20.reduce((a, b) => a + b, 0)).toBe(1);
  recorder.detach();
  balancer.close();
});
