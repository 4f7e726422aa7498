/**
 * `npm run sim`: runs the scenarios, writes docs/simulation.md and docs/simulation.svg, and prints
 * the figures. Exit code 0 even when a figure fails: the figures are findings, not a gate.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './chart';
import { evaluate, type Figure } from './figures';
import { formatMs } from './format';
import { renderReport } from './report';
import type { Scenario } from './scenario';
import { SCENARIOS } from './scenarios';
import { runSuite, strategyRows, type SuiteResult } from './suite';
import { lineup } from './strategies';

const DOCS = path.resolve(__dirname, '../../../docs');
const REPORT = 'simulation.md';
const CHART = 'simulation.svg';

const USAGE = `Usage: npm run sim -- [--scenario <name>]... [--no-write]

  --scenario <name>  run only this scenario (repeatable); implies --no-write
  --no-write         print the summary only, leave docs/ alone

Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

export function main(argv: readonly string[]): number {
  const only: string[] = [];
  let write = true;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--scenario' && argv[i + 1] !== undefined) {
      only.push(argv[++i]!);
      write = false;
    } else if (arg === '--no-write') {
      write = false;
    } else {
      console.error(arg === '--help' || arg === '-h' ? USAGE : `Unknown argument ${arg}\n\n${USAGE}`);
      return arg === '--help' || arg === '-h' ? 0 : 2;
    }
  }
  const scenarios = only.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => only.includes(s.name));
  if (scenarios.length < only.length) {
    console.error(`Unknown scenario in ${only.join(', ')}\n\n${USAGE}`);
    return 2;
  }

  const started = performance.now();
  let current: Scenario | undefined;
  const suite = runSuite(scenarios, lineup(), (scenario) => {
    if (scenario !== current) process.stderr.write(`sim: ${scenario.name}\n`);
    current = scenario;
  });
  const figures = evaluate(suite);
  console.log(summary(suite, figures));
  if (write) {
    mkdirSync(DOCS, { recursive: true });
    writeFileSync(path.join(DOCS, REPORT), renderReport(suite, figures, { chart: CHART }));
    writeFileSync(path.join(DOCS, CHART), renderChart(suite));
    console.log(`\nWrote docs/${REPORT} and docs/${CHART}.`);
  }
  process.stderr.write(`sim: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

/** Plain-text summary for the terminal: p99 per scenario and strategy, then the figures. */
function summary(suite: SuiteResult, figures: readonly Figure[]): string {
  const labels = [...new Set(suite.scenarios.flatMap((s) => s.rows.map((r) => r.contender.label)))];
  const nameW = Math.max(...suite.scenarios.map((s) => s.scenario.name.length), 8);
  const colW = Math.max(...labels.map((l) => l.length)) + 2;
  const lines = [
    'p99 latency, ms (errors % where any)',
    '',
    ['scenario'.padEnd(nameW), ...labels.map((l) => l.padStart(colW))].join(''),
  ];
  for (const result of suite.scenarios) {
    const cells = labels.map((label) => {
      const row = result.rows.find((r) => r.contender.label === label);
      if (row === undefined) return ''.padStart(colW);
      const errors = row.summary.errorRate > 0 ? ` ${(row.summary.errorRate * 100).toFixed(2)}%` : '';
      return `${formatMs(row.summary.p99)}${errors}`.padStart(colW);
    });
    lines.push([result.scenario.name.padEnd(nameW), ...cells].join(''));
  }
  lines.push('', 'Figures');
  figures.forEach((f, i) => {
    lines.push(`  ${i + 1}. [${f.verdict}] ${f.target.replace(/`/g, '')}`, `     ${f.result}`);
  });
  const unused = suite.scenarios.every((s) => strategyRows(s).length > 0);
  if (!unused) lines.push('', 'Some scenarios ran no strategy.');
  for (const u of suite.lineup.unavailable) lines.push(`  skipped ${u.name}: ${u.reason}`);
  return lines.join('\n');
}
