/** Summary statistics of one run, as the report prints them. */
import type { RunResult } from './engine';

/** Nearest-rank quantile of ascending `sorted` values; NaN when there are none. */
export function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Failed and rejected requests over arrivals, in [0, 1]. */
  readonly errorRate: number;
  /** Share of picks per instance, in [0, 1], in the scenario's server order. */
  readonly shares: readonly number[];
  /** Largest time-averaged in-flight per weight over the instances' mean (1 = even). */
  readonly maxMeanLoad: number;
}

export function summarize(run: RunResult): Summary {
  const picked = run.instances.reduce((sum, i) => sum + i.picks, 0);
  const loads = run.instances.map((i) => i.loadPerWeight);
  const meanLoad = loads.reduce((a, b) => a + b, 0) / loads.length;
  return {
    p50: quantile(run.latencies, 0.5),
    p99: quantile(run.latencies, 0.99),
    p999: quantile(run.latencies, 0.999),
    errorRate: run.arrivals === 0 ? 0 : (run.failed + run.rejected) / run.arrivals,
    shares: run.instances.map((i) => (picked === 0 ? 0 : i.picks / picked)),
    maxMeanLoad: meanLoad > 0 ? Math.max(...loads) / meanLoad : NaN,
  };
}
