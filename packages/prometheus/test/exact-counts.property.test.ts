// requests_total and the histogram equal the releases counted by hand, under churn
// (remove while draining, re-add same id, slot reuse, metadata updates, eject), never lost.
import { createBalancer, seededRandom, type Balancer, type Lease } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { churnStep } from './churn';
import { parseExposition } from './exposition';

interface Tally {
  ok: number;
  failed: number;
  sumMs: number;
  buckets: number[];
}

const BOUNDS_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

describe('exact counts under churn', () => {
  for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
    for (const withMeta of [false, true]) {
      it(`seed ${seed}${withMeta ? ' meta' : ''}: every release is counted once, in its label set`, async () => {
        const rnd = seededRandom(seed);
        let now = 0;
        const b: Balancer = createBalancer({
          service: 's',
          strategy: 'round-robin',
          clock: () => (now += 1),
          random: seededRandom(seed + 7),
          health: { slowStart: false },
          instances: [],
        });
        const registry = new Registry();
        collectMetrics(b, { registry, ...(withMeta ? { metadataLabels: ['z'] } : {}) });
        const ids = ['a', 'b', 'c', 'd', 'e'];
        const leases: Lease[] = [];
        // Cumulative truth per label set since it was last absent from a scrape.
        const truth = new Map<string, Tally>();
        // What the last scrape showed per label set.
        const shown = new Map<string, Tally>();
        const log: string[] = [];
        const keyOf = (id: string, z: string | undefined) => JSON.stringify(withMeta ? [id, z ?? ''] : [id]);
        const fresh = (): Tally => ({ ok: 0, failed: 0, sumMs: 0, buckets: BOUNDS_MS.map(() => 0) });
        const churn = { balancer: b, random: rnd, ids, label: 'z', leases, log };
        for (let step = 0; step < 800; step++) {
          const r = rnd();
          const id = ids[Math.floor(rnd() * ids.length)]!;
          if (churnStep(churn, r, id)) continue;
          if (r < 0.85) {
            if (leases.length > 0) {
              const lease = leases.splice(Math.floor(rnd() * leases.length), 1)[0]!;
              const ok = rnd() < 0.7;
              const latencyMs = [5, 10, 0, 3, 250, 251, 9999, 10000, 10001][Math.floor(rnd() * 9)]!;
              const k = keyOf(lease.instance.id, lease.instance.metadata.z);
              lease.release({ ok, latencyMs });
              const t = truth.get(k) ?? fresh();
              truth.set(k, t);
              if (ok) t.ok++;
              else t.failed++;
              t.sumMs += latencyMs;
              const bi = BOUNDS_MS.findIndex((bound) => latencyMs <= bound);
              if (bi >= 0) t.buckets[bi]!++;
              log.push(`release ${lease.instance.id} ${ok} ${latencyMs}`);
            }
          } else {
            log.push('scrape');
            const samples = parseExposition(await registry.metrics());
            const seen = new Map<string, Tally>();
            for (const s of samples) {
              if (!s.name.startsWith('ballast_request')) continue;
              if (
                s.name === 'ballast_requests_total' ||
                s.name.startsWith('ballast_request_duration_seconds')
              ) {
                const k = keyOf(s.labels.instance!, s.labels.z);
                const t = seen.get(k) ?? fresh();
                seen.set(k, t);
                if (s.name === 'ballast_requests_total') {
                  if (s.labels.outcome === 'success') t.ok = s.value;
                  else t.failed = s.value;
                } else if (s.name === 'ballast_request_duration_seconds_sum')
                  t.sumMs = Math.round(s.value * 1000);
                else if (s.name === 'ballast_request_duration_seconds_bucket' && s.labels.le !== '+Inf') {
                  const i = BOUNDS_MS.findIndex(
                    (bound) => Math.abs(bound / 1000 - Number(s.labels.le)) < 1e-12,
                  );
                  t.buckets[i] = s.value - (i > 0 ? 0 : 0);
                }
              }
            }
            // Buckets from cumulative to per-bucket.
            for (const t of seen.values())
              for (let i = t.buckets.length - 1; i > 0; i--) t.buckets[i]! -= t.buckets[i - 1]!;
            for (const [k, want] of truth) {
              const got = seen.get(k);
              if (got === undefined) {
                const before = shown.get(k);
                // Dropped: allowed only if nothing was released since the last scrape showed it.
                const last = before ?? fresh();
                if (last.ok !== want.ok || last.failed !== want.failed)
                  throw new Error(
                    `${k} dropped with unreported releases: shown ${JSON.stringify(last)} truth ${JSON.stringify(want)} at ${step}\n${log.slice(-40).join('; ')}`,
                  );
                truth.delete(k);
                continue;
              }
              if (JSON.stringify(got) !== JSON.stringify(want))
                throw new Error(
                  `${k}: got ${JSON.stringify(got)} want ${JSON.stringify(want)} at ${step}\n${log.slice(-40).join('; ')}`,
                );
            }
            for (const [k, got] of seen)
              if (!truth.has(k) && (got.ok !== 0 || got.failed !== 0))
                throw new Error(
                  `${k}: shown ${JSON.stringify(got)} with no release at ${step}\n${log.slice(-40).join('; ')}`,
                );
            shown.clear();
            for (const [k, t] of seen) shown.set(k, { ...t, buckets: [...t.buckets] });
          }
        }
        b.close();
      });
    }
  }
});
