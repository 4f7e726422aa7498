/** Runs every contender through every scenario. */
import { simulate, type RunResult } from './engine';
import { mergeRuns } from './merge';
import type { Scenario } from './scenario';
import { summarize, type Summary } from './stats';
import { oracle, type Contender, type Lineup } from './strategies';

export interface Row {
  readonly contender: Contender;
  /** The replications pooled. */
  readonly run: RunResult;
  /** Each replication on its own, in seed order. */
  readonly replicas: readonly RunResult[];
  readonly summary: Summary;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly rows: readonly Row[];
}

export interface SuiteResult {
  readonly lineup: Lineup;
  readonly scenarios: readonly ScenarioResult[];
}

export function runSuite(
  scenarios: readonly Scenario[],
  lineup: Lineup,
  onRun: (scenario: Scenario, contender: Contender) => void = () => {},
): SuiteResult {
  return {
    lineup,
    scenarios: scenarios.map((scenario) => {
      const contenders =
        scenario.oracleAvoids === undefined
          ? lineup.contenders
          : [...lineup.contenders, oracle(scenario.oracleAvoids)];
      const rows = contenders.map((contender) => {
        onRun(scenario, contender);
        const replicas = Array.from({ length: scenario.replications ?? 1 }, (_, replica) =>
          simulate({ scenario, strategy: contender.option, keyed: contender.keyed, replica }),
        );
        const run = mergeRuns(replicas);
        return { contender, run, replicas, summary: summarize(run) };
      });
      return { scenario, rows };
    }),
  };
}

/** Rows users can choose: every built-in, without references such as the oracle. */
export function strategyRows(result: ScenarioResult): readonly Row[] {
  return result.rows.filter((row) => !row.contender.reference);
}
