/** A pino-shaped logger. */
export interface LineLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/**
 * The examples' logger: one line per entry on stderr (`warn state changes: service=users
 * instance=... reason=...`), from `level` up. Production code would pass pino instead; Ballast
 * takes any logger of this shape.
 */
export function lineLogger(
  level: Level | 'silent' = 'info',
  write: (line: string) => unknown = (line) => process.stderr.write(line),
): LineLogger {
  const threshold = level === 'silent' ? LEVELS.length : LEVELS.indexOf(level);
  const at = (name: Level) => (obj: object, msg?: string) => {
    if (LEVELS.indexOf(name) < threshold) return;
    const fields = Object.entries(obj)
      .filter(([, value]) => value !== undefined && typeof value !== 'object')
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(' ');
    write(`${name.padEnd(5)} ${msg ?? ''} ${fields}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
