// Markdown output shared by the benchmarks: aligned tables, machine facts, and the generated
// sections of docs/benchmarks.md.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import process from 'node:process';

/**
 * A table laid out the way Prettier lays it out (padded cells, `---:` for right-aligned
 * columns), so that `npm run format:check` accepts the generated file as it is.
 *
 * @param {string[]} header
 * @param {string[][]} rows
 * @param {('left' | 'right')[]} align  one per column
 */
export function table(header, rows, align) {
  const widths = header.map((cell, c) => Math.max(3, cell.length, ...rows.map((row) => row[c].length)));
  const line = (cells) =>
    `| ${cells.map((cell, c) => (align[c] === 'right' ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (align[c] === 'right' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** 12345.6 → "12,346". */
export function integer(value) {
  return Math.round(value).toLocaleString('en-US');
}

/** The machine a run happens on, as a phrase: Node, CPU, cores, date. */
export function machineFacts(date = new Date()) {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  return (
    `Node ${process.version} on ${model} (${cpus.length} cores, ${os.platform()} ${os.arch()}), ` +
    `${date.toISOString().slice(0, 16).replace('T', ' ')} UTC`
  );
}

/** The 1-, 5- and 15-minute load averages: how busy the machine was (0 on Windows). */
export function loadAverage() {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
}

const DOCUMENT_HEADER = `# Benchmarks

Figures measured by \`npm run bench\` (see \`tools/bench/\`). Each section below is generated
between its \`<!-- bench:<name>:start -->\` and \`<!-- bench:<name>:end -->\` markers and replaced
on the next \`--write\`; text outside the markers is kept.
`;

/**
 * Writes `body` into `file` between the markers of section `name`, creating the file or appending
 * the section (under `## heading`) when it is not there yet. Everything else is left as it is.
 */
export function writeSection(file, { name, heading, body }) {
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${start}\n\n${body.trim()}\n\n${end}`;
  const text = existsSync(file) ? readFileSync(file, 'utf8') : DOCUMENT_HEADER;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  let next;
  if (from >= 0 && to > from) {
    next = text.slice(0, from) + block + text.slice(to + end.length);
  } else if (from < 0 && to < 0) {
    next = `${text.trimEnd()}\n\n## ${heading}\n\n${block}\n`;
  } else {
    throw new Error(
      `${file}: the markers of section "${name}" are incomplete or out of order; fix them by hand`,
    );
  }
  writeFileSync(file, next);
}
