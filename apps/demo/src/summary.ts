import type { StatusSnapshot } from '@ballast/node';

const pad = (text: string, width: number): string =>
  text.length >= width ? text : text + ' '.repeat(width - text.length);
const num = (value: number | null, digits = 0): string => (value === null ? '-' : value.toFixed(digits));

/**
 * One line per instance of one service, from the status page's `snapshot.json`:
 * `phoenix  ejected     health 0.00  in-flight 0   0.0 req/s  err 100 %  p50 - ms  p99 - ms  (ejected: consecutive-failures)`.
 */
export function summaryLines(snapshot: StatusSnapshot, service: string): string[] {
  const found = snapshot.services.find((s) => s.service === service);
  if (found === undefined) return [`${service}: not in the snapshot`];
  const head = `${service} (${found.activeStrategy === found.strategy ? found.strategy : `${found.strategy} -> ${found.activeStrategy}`})`;
  return [
    head,
    ...found.instances.map((instance) => {
      const { recent } = instance;
      const why = instance.reasons.length > 0 ? `  (${instance.reasons.join(', ')})` : '';
      return (
        `  ${pad(instance.id, 9)} ${pad(instance.state, 11)} health ${num(instance.health, 2)}  ` +
        `in-flight ${pad(String(instance.inflight), 3)} ${pad(num(recent.requestsPerSecond, 1), 5)} req/s  ` +
        `err ${pad(num(recent.errorRate * 100), 3)} %  p50 ${pad(num(recent.p50Ms), 4)} ms  p99 ${pad(num(recent.p99Ms), 4)} ms${why}`
      );
    }),
  ];
}

/** Where the live summary writes: the terminal's stdout and stderr, or anything shaped like them. */
export interface Screen {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** A terminal: the summary is redrawn in place; otherwise each one is printed below the last. */
  readonly tty: boolean;
}

/**
 * The demo's terminal: a summary redrawn in place, with log lines (ejections, restorations,
 * strategy switches) printed above it. A log line first erases the summary, so the next redraw
 * starts below the log line instead of moving up over it and erasing it.
 */
export function liveSummary(screen: Screen): {
  draw(lines: readonly string[]): void;
  log(line: string): void;
} {
  let drawn = 0;
  const erase = () => {
    if (screen.tty && drawn > 0) screen.out(`\x1b[${drawn}F\x1b[J`);
    drawn = 0;
  };
  return {
    draw(lines) {
      erase();
      screen.out(`${lines.join('\n')}\n`);
      if (screen.tty) drawn = lines.length;
    },
    log(line) {
      erase();
      screen.err(line);
    },
  };
}
