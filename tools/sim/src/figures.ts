/**
 * The targets of the simulator's issue, evaluated on a suite's results. Each figure names its
 * target, the numbers it was judged on and a verdict; a target whose inputs are missing (a
 * strategy the core does not have yet, a scenario filtered out) is reported as not evaluated,
 * never as passed.
 */
import { formatMs, formatPercent, formatRatio, plural } from './format';
import type { RunResult } from './engine';
import { quantile } from './stats';
import type { Row, ScenarioResult, SuiteResult } from './suite';
import { strategyRows } from './suite';

export type Verdict = 'PASS' | 'FAIL' | 'NOT EVALUATED';

export interface Figure {
  readonly target: string;
  readonly verdict: Verdict;
  /** One line: the numbers behind the verdict. */
  readonly result: string;
  /** Per-strategy numbers, one line each. */
  readonly details: readonly string[];
}

const SLOWER_RATIO = 0.5;
const ORACLE_FACTOR = 2;
const FAIR_SHARE_FACTOR = 2;
const WRR_TOLERANCE_PP = 0.1;
const ADAPTIVE_MARGIN = 0.1;

export function evaluate(suite: SuiteResult): Figure[] {
  return [slowInstance(suite), failingFast(suite), slowStart(suite), weightShares(suite), ...adaptive(suite)];
}

function scenario(suite: SuiteResult, name: string): ScenarioResult | undefined {
  return suite.scenarios.find((s) => s.scenario.name === name);
}

function row(result: ScenarioResult | undefined, label: string): Row | undefined {
  return result?.rows.find((r) => r.contender.label === label);
}

function notEvaluated(target: string, why: string): Figure {
  return { target, verdict: 'NOT EVALUATED', result: why, details: [] };
}

function slowInstance(suite: SuiteResult): Figure {
  const target = `one instance 5× slower: \`peak-ewma\` p99 ≤ ${SLOWER_RATIO} × \`round-robin\` p99`;
  const result = scenario(suite, 'one-slow');
  const ewma = row(result, 'peak-ewma');
  const rr = row(result, 'round-robin');
  if (ewma === undefined || rr === undefined) return notEvaluated(target, 'scenario or strategy not run');
  const ratio = ewma.summary.p99 / rr.summary.p99;
  return {
    target,
    verdict: ratio <= SLOWER_RATIO ? 'PASS' : 'FAIL',
    result: `peak-ewma ${formatMs(ewma.summary.p99)} ms, round-robin ${formatMs(rr.summary.p99)} ms: ${formatRatio(ratio)}×`,
    details: [],
  };
}

function errorsOf(r: Row): number {
  return r.run.failed + r.run.rejected;
}

function failingFast(suite: SuiteResult): Figure {
  const target = `one instance failing fast: error rate with outlier ejection ≤ ${ORACLE_FACTOR} × a perfect oracle's`;
  const result = scenario(suite, 'one-failing-fast');
  const best = row(result, 'oracle');
  if (result === undefined || best === undefined) return notEvaluated(target, 'scenario not run');
  const floor = best.summary.errorRate;
  const rows = strategyRows(result).map((r) => ({ r, factor: r.summary.errorRate / floor }));
  const worst = rows.reduce((a, b) => (b.factor > a.factor ? b : a));
  const passing = rows.filter((x) => x.factor <= ORACLE_FACTOR).length;
  return {
    target,
    verdict: passing === rows.length ? 'PASS' : 'FAIL',
    result:
      `oracle ${plural(errorsOf(best), 'error')} (${formatPercent(floor)} %); ${passing} of ${rows.length} ` +
      `strategies within ${ORACLE_FACTOR}×; worst ${worst.r.contender.label} ${plural(errorsOf(worst.r), 'error')} ` +
      `(${formatRatio(worst.factor)}×)`,
    details: rows.map(
      ({ r, factor }) =>
        `${r.contender.label}: ${plural(errorsOf(r), 'error')}, ${formatPercent(r.summary.errorRate)} % = ` +
        `${formatRatio(factor)}× oracle; ${plural(r.run.ejections, 'ejection')}, taken out ${plural(r.run.takenOut, 'time')}`,
    ),
  };
}

function slowStart(suite: SuiteResult): Figure {
  const target = `slow start: the joining instance never exceeds ${FAIR_SHARE_FACTOR} × its fair share in its first window`;
  const result = scenario(suite, 'joining');
  const window = result?.scenario.join;
  if (result === undefined || window === undefined) return notEvaluated(target, 'scenario not run');
  const rows = strategyRows(result).map((r) => {
    const join = r.run.join!;
    const ratios = join.picks.map((p, i) => (join.total[i]! > 0 ? p / join.total[i]! / join.fairShare : 0));
    const peak = Math.max(...ratios);
    return { r, ratios, peak, slot: ratios.indexOf(peak), seen: join.slowStartSeen };
  });
  const worst = rows.reduce((a, b) => (b.peak > a.peak ? b : a));
  const sliceS = window.windowMs / window.subWindows / 1000;
  const seen = rows.filter((x) => x.seen).length;
  return {
    target,
    verdict: rows.every((x) => x.peak <= FAIR_SHARE_FACTOR) ? 'PASS' : 'FAIL',
    result:
      `largest ${formatRatio(worst.peak)}× fair share (${worst.r.contender.label}, slice ` +
      `${worst.slot * sliceS}–${(worst.slot + 1) * sliceS} s); slow start reported by the core in ` +
      `${seen} of ${rows.length} runs`,
    details: rows.map(
      (x) =>
        `${x.r.contender.label}: peak ${formatRatio(x.peak)}× fair share; by ${sliceS} s slice: ` +
        x.ratios.map(formatRatio).join(', '),
    ),
  };
}

function weightShares(suite: SuiteResult): Figure {
  const target = `\`weighted-round-robin\`: each instance's share within ${WRR_TOLERANCE_PP} percentage point of its weight share`;
  const result = scenario(suite, 'heterogeneous-weights');
  const wrr = row(result, 'weighted-round-robin');
  if (result === undefined || wrr === undefined) return notEvaluated(target, 'scenario or strategy not run');
  const weights = result.scenario.servers.map((s) => s.weight ?? 1);
  const total = weights.reduce((a, b) => a + b, 0);
  const gaps = wrr.summary.shares.map((share, i) => Math.abs(share - weights[i]! / total) * 100);
  const worst = Math.max(...gaps);
  const at = result.scenario.servers[gaps.indexOf(worst)]!.id;
  return {
    target,
    verdict: worst <= WRR_TOLERANCE_PP ? 'PASS' : 'FAIL',
    result: `largest gap ${worst.toFixed(3)} pp (instance \`${at}\`)`,
    details: result.scenario.servers.map(
      (s, i) =>
        `${s.id} (weight ${weights[i]}): share ${(wrr.summary.shares[i]! * 100).toFixed(3)} %, ` +
        `weight share ${((weights[i]! / total) * 100).toFixed(3)} %`,
    ),
  };
}

function adaptive(suite: SuiteResult): Figure[] {
  const within = `\`adaptive\`: p99 within ${ADAPTIVE_MARGIN * 100} % of the best fixed strategy in every scenario`;
  const beats = '`adaptive`: in the phase-change scenario, p99 better than every fixed strategy';
  const missing = suite.lineup.unavailable.find((u) => u.name === 'adaptive');
  if (missing !== undefined) {
    const why = `adaptive not available: ${missing.reason}`;
    return [notEvaluated(within, why), notEvaluated(beats, why)];
  }
  const per = suite.scenarios.flatMap((result) => {
    const own = row(result, 'adaptive');
    const fixed = strategyRows(result).filter((r) => r.contender.label !== 'adaptive');
    if (own === undefined || fixed.length === 0) return [];
    const best = fixed.reduce((a, b) => (b.summary.p99 < a.summary.p99 ? b : a));
    return [{ result, own, best, ratio: own.summary.p99 / best.summary.p99 }];
  });
  if (per.length === 0)
    return [notEvaluated(within, 'no scenario run'), notEvaluated(beats, 'no scenario run')];
  const worst = per.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const figures: Figure[] = [
    {
      target: within,
      verdict: per.every((x) => x.ratio <= 1 + ADAPTIVE_MARGIN) ? 'PASS' : 'FAIL',
      result:
        `worst ${formatRatio(worst.ratio)}× the best (${worst.result.scenario.name}: best ` +
        `${worst.best.contender.label}), over ${plural(per.length, 'scenario')}`,
      details: per.map(
        (x) =>
          `${x.result.scenario.name}: adaptive ${formatMs(x.own.summary.p99)} ms, best fixed ` +
          `${x.best.contender.label} ${formatMs(x.best.summary.p99)} ms (${formatRatio(x.ratio)}×); ` +
          `${plural(x.own.run.strategyChanges, 'strategy change')}`,
      ),
    },
  ];
  const phase = per.find((x) => x.result.scenario.name === 'phase-change');
  figures.push(
    phase === undefined
      ? notEvaluated(beats, 'scenario not run')
      : {
          target: beats,
          verdict: phase.own.summary.p99 < phase.best.summary.p99 ? 'PASS' : 'FAIL',
          result:
            `adaptive ${formatMs(phase.own.summary.p99)} ms, best fixed ${phase.best.contender.label} ` +
            `${formatMs(phase.best.summary.p99)} ms (${formatRatio(phase.ratio)}×)`,
          details: phase.own.replicas.map((own, k) => {
            const p99 = (run: RunResult) => quantile(run.latencies, 0.99);
            const fixed = strategyRows(phase.result).filter((r) => r.contender.label !== 'adaptive');
            const best = fixed.reduce((a, b) => (p99(b.replicas[k]!) < p99(a.replicas[k]!) ? b : a));
            const ratio = p99(own) / p99(best.replicas[k]!);
            return (
              `seed ${phase.result.scenario.seed + k * 1_000_000} alone: adaptive ${formatMs(p99(own))} ms, ` +
              `best fixed ${best.contender.label} ${formatMs(p99(best.replicas[k]!))} ms (${formatRatio(ratio)}×)`
            );
          }),
        },
  );
  return figures;
}
