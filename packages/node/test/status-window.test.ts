import { InstanceWindow, RECENT_SECONDS } from '../src/status-window';

describe('InstanceWindow', () => {
  const T0 = 1_000_000; // an exact second, ms

  test('rates, error rate and percentiles over the recent seconds', () => {
    const w = new InstanceWindow(60, T0 - 60_000);
    // 100 requests in the second at T0: latencies 1..100 ms, every tenth one failed.
    for (let i = 1; i <= 100; i++) w.record(T0 + i, i, i % 10 !== 0);
    const recent = w.recent(T0 + 500);
    expect(recent.requests).toBe(100);
    expect(recent.errorRate).toBeCloseTo(0.1, 10);
    // The window spans 9 full seconds plus half of the current one.
    expect(recent.requestsPerSecond).toBeCloseTo(100 / 9.5, 6);
    // Bucket upper edges: within 9 % above the true value, never below it.
    expect(recent.p50Ms).toBeGreaterThanOrEqual(50);
    expect(recent.p50Ms).toBeLessThanOrEqual(50 * 1.1);
    expect(recent.p99Ms).toBeGreaterThanOrEqual(99);
    expect(recent.p99Ms).toBeLessThanOrEqual(99 * 1.1);
  });

  test('a young instance is rated over its real age', () => {
    const w = new InstanceWindow(60, T0);
    for (let i = 0; i < 20; i++) w.record(T0 + 100 * i, 5, true);
    expect(w.recent(T0 + 2_000).requestsPerSecond).toBeCloseTo(10, 6);
  });

  test('requests older than the recent window stop counting; the series keeps them', () => {
    const w = new InstanceWindow(60, T0 - 60_000);
    for (let i = 0; i < 30; i++) w.record(T0, 200, false);
    const later = T0 + RECENT_SECONDS * 1000 + 10;
    const recent = w.recent(later);
    expect(recent).toMatchObject({ requests: 0, errorRate: 0, p50Ms: null, p99Ms: null });
    const series = w.series(later);
    expect(series.requests).toHaveLength(60);
    const at = 60 - 1 - RECENT_SECONDS; // T0's second, counted back from the current one
    expect(series.requests[at]).toBe(30);
    expect(series.failures[at]).toBe(30);
    expect(series.p99Ms[at]).toBeGreaterThanOrEqual(200);
    expect(series.p99Ms[at]).toBeLessThanOrEqual(220);
    expect(series.requests.reduce((a, b) => a + b, 0)).toBe(30);
    expect(series.p99Ms.filter((v) => v !== null)).toHaveLength(1);
  });

  test('the series is bounded: a second older than the history is forgotten', () => {
    const w = new InstanceWindow(20, T0);
    w.record(T0, 1, true);
    w.record(T0 + 5_000, 1, true);
    expect(w.series(T0 + 5_000).requests).toEqual([1, 0, 0, 0, 0, 1]);
    const series = w.series(T0 + 20_500);
    expect(series.requests).toHaveLength(20);
    expect(series.requests.reduce((a, b) => a + b, 0)).toBe(1);
    // A gap longer than the whole history clears everything.
    expect(w.series(T0 + 500_000).requests.every((n) => n === 0)).toBe(true);
  });

  test('the current second has live percentiles; zero and huge latencies stay in range', () => {
    const w = new InstanceWindow(30, T0);
    w.record(T0 + 10, 0, true);
    expect(w.recent(T0 + 15).p50Ms).toBeLessThan(1);
    w.record(T0 + 20, 10_000_000, true);
    const series = w.series(T0 + 30);
    expect(series.p99Ms.at(-1)).toBeGreaterThan(60_000);
    expect(Number.isFinite(series.p99Ms.at(-1))).toBe(true);
  });
});
