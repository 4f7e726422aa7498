/**
 * The report's chart as a hand-written SVG: p99 latency per strategy (bars) grouped by scenario,
 * on a log scale, since a strategy that lets a queue grow sits orders of magnitude above the rest.
 * No dependency, no randomness, fixed decimals: the same results give the same bytes.
 */
import { formatMs } from './format';
import type { SuiteResult } from './suite';
import { strategyRows } from './suite';

/** Tableau 10: distinguishable, and readable by most colour-blind readers. */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
];

const WIDTH = 960;
const HEIGHT = 460;
const MARGIN = { left: 72, right: 16, top: 44, bottom: 128 };

export function renderChart(suite: SuiteResult): string {
  const labels = [...new Set(suite.scenarios.flatMap((s) => strategyRows(s).map((r) => r.contender.label)))];
  const values = suite.scenarios.flatMap((s) => strategyRows(s).map((r) => r.summary.p99));
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  const lowExp = Math.floor(Math.log10(Math.min(...finite, 10)));
  const highExp = Math.ceil(Math.log10(Math.max(...finite, 100)));
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const y = (v: number) => MARGIN.top + plotH - ((Math.log10(v) - lowExp) / (highExp - lowExp)) * plotH;
  const groupW = plotW / Math.max(1, suite.scenarios.length);
  const barW = (groupW * 0.8) / Math.max(1, labels.length);
  const n = (x: number) => x.toFixed(1);
  const out: string[] = [];

  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">p99 latency by strategy and scenario (lower is better)</text>`,
  );

  // Grid and y axis: a line per decade, light lines at 2× and 5×.
  for (let e = lowExp; e <= highExp; e++) {
    const v = 10 ** e;
    out.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${n(y(v))}" y2="${n(y(v))}" stroke="#c8c8c8"/>`,
      `<text x="${MARGIN.left - 6}" y="${n(y(v) + 4)}" text-anchor="end">${formatTick(v)}</text>`,
    );
    if (e < highExp) {
      for (const k of [2, 5]) {
        out.push(
          `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${n(y(k * v))}" y2="${n(y(k * v))}" stroke="#ececec"/>`,
        );
      }
    }
  }
  out.push(
    `<text transform="translate(18 ${n(MARGIN.top + plotH / 2)}) rotate(-90)" text-anchor="middle">p99 latency (log scale)</text>`,
  );

  // Bars, grouped by scenario.
  suite.scenarios.forEach((result, g) => {
    const x0 = MARGIN.left + g * groupW + groupW * 0.1;
    for (const row of strategyRows(result)) {
      const i = labels.indexOf(row.contender.label);
      const v = row.summary.p99;
      if (!Number.isFinite(v) || v <= 0) continue;
      const top = y(v);
      out.push(
        `<rect x="${n(x0 + i * barW)}" y="${n(top)}" width="${n(barW * 0.9)}" height="${n(MARGIN.top + plotH - top)}" fill="${PALETTE[i % PALETTE.length]}">` +
          `<title>${escape(result.scenario.title)}, ${escape(row.contender.label)}: p99 ${formatMs(v)} ms</title></rect>`,
      );
    }
    out.push(
      `<text x="${n(MARGIN.left + (g + 0.5) * groupW)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escape(result.scenario.name)}</text>`,
    );
  });
  out.push(
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#333"/>`,
    `<text x="${n(MARGIN.left + plotW / 2)}" y="${MARGIN.top + plotH + 40}" text-anchor="middle">scenario</text>`,
  );

  // Legend: four per row.
  const perRow = 4;
  const cellW = plotW / perRow;
  labels.forEach((label, i) => {
    const lx = MARGIN.left + (i % perRow) * cellW;
    const ly = MARGIN.top + plotH + 62 + Math.floor(i / perRow) * 22;
    out.push(
      `<rect x="${n(lx)}" y="${ly - 10}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${n(lx + 18)}" y="${ly}">${escape(label)}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function formatTick(v: number): string {
  return v >= 1000 ? `${v / 1000} s` : `${v} ms`;
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
