/** Pooling of replications: one result from several seeds of the same strategy and scenario. */
import type { RunResult } from './engine';

/**
 * Pools replications of one strategy and scenario into one result: counts add up, latency
 * samples are merged (so quantiles are over every request), loads are averaged.
 */
export function mergeRuns(runs: readonly RunResult[]): RunResult {
  const first = runs[0];
  if (first === undefined) throw new Error('mergeRuns needs at least one run');
  if (runs.length === 1) return first;
  const sum = (f: (run: RunResult) => number) => runs.reduce((total, run) => total + f(run), 0);
  const join = first.join;
  return {
    arrivals: sum((r) => r.arrivals),
    completed: sum((r) => r.completed),
    failed: sum((r) => r.failed),
    rejected: sum((r) => r.rejected),
    latencies: concatSorted(runs.map((r) => r.latencies)),
    phaseLatencies: new Map(
      [...first.phaseLatencies.keys()].map((label) => [
        label,
        concatSorted(runs.map((r) => r.phaseLatencies.get(label)!)),
      ]),
    ),
    instances: first.instances.map((instance, i) => ({
      id: instance.id,
      picks: sum((r) => r.instances[i]!.picks),
      loadPerWeight: sum((r) => r.instances[i]!.loadPerWeight) / runs.length,
    })),
    takenOut: sum((r) => r.takenOut),
    ejections: sum((r) => r.ejections),
    strategyChanges: sum((r) => r.strategyChanges),
    join:
      join === undefined
        ? undefined
        : {
            picks: join.picks.map((_, i) => sum((r) => r.join!.picks[i]!)),
            total: join.total.map((_, i) => sum((r) => r.join!.total[i]!)),
            fairShare: join.fairShare,
            slowStartSeen: runs.every((r) => r.join!.slowStartSeen),
          },
    inflightAtEnd: sum((r) => r.inflightAtEnd),
    endMs: Math.max(...runs.map((r) => r.endMs)),
  };
}

function concatSorted(parts: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out.sort();
}
