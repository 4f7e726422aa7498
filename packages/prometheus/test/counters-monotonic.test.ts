// Counters never decrease while a balancer lives, and the histogram agrees with them.
import { createBalancer, seededRandom, type Balancer, type Lease } from '@ballast/core';
import { Registry } from 'prom-client';
import { collectMetrics } from '../src';
import { churnStep } from './churn';
import { parseExposition, type Sample } from './exposition';

const key = (s: Sample) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

describe('counters are monotonic under churn', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    for (const withMeta of [false, true]) {
      it(`seed ${seed}${withMeta ? ' with metadataLabels' : ''}: no counter sample decreases, histogram _count equals requests_total`, async () => {
        const rnd = seededRandom(seed);
        let now = 0;
        const b: Balancer = createBalancer({
          service: 's',
          strategy: 'round-robin',
          clock: () => (now += 1),
          random: seededRandom(seed + 100),
          health: { slowStart: false, outlier: false },
          instances: [],
        });
        const registry = new Registry();
        const detach = collectMetrics(b, { registry, ...(withMeta ? { metadataLabels: ['zone2'] } : {}) });
        const ids = ['a', 'b', 'c', 'd'];
        const leases: Lease[] = [];
        const last = new Map<string, number>();
        const log: string[] = [];
        const churn = { balancer: b, random: rnd, ids, label: 'zone2', leases, log };
        for (let step = 0; step < 600; step++) {
          const r = rnd();
          const id = ids[Math.floor(rnd() * ids.length)]!;
          if (churnStep(churn, r, id)) continue;
          if (r < 0.85) {
            if (leases.length > 0) {
              const lease = leases.splice(Math.floor(rnd() * leases.length), 1)[0]!;
              lease.release({ ok: rnd() < 0.7, latencyMs: Math.floor(rnd() * 3000) });
              log.push(`release ${lease.instance.id}`);
            }
          } else {
            log.push('scrape');
            const samples = parseExposition(await registry.metrics());
            const totals = new Map<string, number>();
            const seen = new Set<string>();
            for (const s of samples) {
              if (
                s.name === 'ballast_requests_total' ||
                s.name.startsWith('ballast_request_duration_seconds')
              ) {
                const k = key(s);
                const before = last.get(k);
                if (before !== undefined && s.value < before)
                  problems(`${k} decreased ${before} -> ${s.value} at step ${step}`);
                last.set(k, s.value);
                seen.add(k);
              }
              if (s.name === 'ballast_requests_total') {
                const { outcome, ...rest } = s.labels;
                void outcome;
                const k = JSON.stringify(Object.entries(rest).sort());
                totals.set(k, (totals.get(k) ?? 0) + s.value);
              }
            }
            // a series absent from this scrape was dropped: a later one may start over
            for (const k of [...last.keys()]) if (!seen.has(k)) last.delete(k);
            for (const s of samples) {
              if (s.name !== 'ballast_request_duration_seconds_count') continue;
              const k = JSON.stringify(Object.entries(s.labels).sort());
              if (totals.get(k) !== s.value)
                problems(
                  `histogram _count ${s.value} != requests_total ${totals.get(k)} for ${k} at step ${step}`,
                );
            }
            // in-flight gauge equals the leases still out, per id
            const out = new Map<string, number>();
            for (const l of leases) out.set(l.instance.id, (out.get(l.instance.id) ?? 0) + 1);
            const inflight = new Map<string, number>();
            for (const s of samples)
              if (s.name === 'ballast_inflight_requests')
                inflight.set(s.labels.instance!, (inflight.get(s.labels.instance!) ?? 0) + s.value);
            for (const [id, n] of out)
              if (inflight.get(id) !== n)
                problems(`inflight of ${id}: gauge ${inflight.get(id)} vs ${n} at step ${step}`);
          }
          function problems(msg: string): void {
            throw new Error(`${msg}\n${log.slice(-40).join('; ')}`);
          }
        }
        detach();
        b.close();
      });
    }
  }
});
