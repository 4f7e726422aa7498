/** Number formatting for the report: fixed decimals, so output is byte-stable. */

/** Milliseconds: one decimal below 1 000, none above. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms < 1000 ? ms.toFixed(1) : ms.toFixed(0);
}

/** A rate in [0, 1] as a percentage with enough decimals to show a handful of errors. */
export function formatPercent(rate: number): string {
  if (rate === 0) return '0';
  return (rate * 100).toFixed(rate * 100 < 1 ? 3 : 2);
}

export function formatRatio(x: number): string {
  if (!Number.isFinite(x)) return '∞';
  return x.toFixed(2);
}

/** An integer with comma thousands separators, whatever the locale: 41,802. */
export function formatCount(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** "1 error", "5 errors". */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
