/**
 * The fault suite's runs as a table for docs/reliability.md: each fault of faults.ts once, with
 * the settings of the CI suite (fault-options.ts), one Markdown row per fault on stdout.
 *
 *     node -r ./tools/sim/register.cjs tools/reliability/src/fault-report.ts
 */
import process from 'node:process';

import { FAULT_RUN } from './fault-options';
import { runFault } from './fault-run';
import { FAULTS } from './faults';
import { startFleet } from './fleet';

const ms = (value: number | undefined) => (value === undefined ? 'stayed in' : `${Math.round(value)} ms`);

async function main(): Promise<void> {
  const fleet = await startFleet(3);
  const rows = [
    '| fault | sent (GET / POST) | GET failed | POST answered 5xx | lost | taken out as | detection | recovery | served after recovery |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  try {
    for (const fault of FAULTS) {
      const run = await runFault(fault, fleet, fleet[1]!, FAULT_RUN);
      await run.close();
      const t = run.tally;
      const statuses = Object.entries(t.errorStatuses)
        .map(([status, n]) => `${n}× ${status}`)
        .join(', ');
      rows.push(
        `| ${fault.name} | ${t.sent} (${t.get.sent} / ${t.post.sent}) | ${t.get.failed} | ${t.post.failed}${statuses ? ` (${statuses})` : ''} | ${t.lost} | ${run.detectedAs ?? '-'} | ${ms(run.detectionMs)} | ${ms(run.recoveryMs)} | ${run.servedAfterRecovery} |`,
      );
      process.stderr.write(`${rows.at(-1)}\n`);
    }
  } finally {
    await Promise.all(fleet.map((u) => u.stop()));
  }
  process.stdout.write(`${rows.join('\n')}\n`);
}

void main();
