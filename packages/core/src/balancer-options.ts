import { describe, InvalidConfigError } from './errors';
import { readField } from './instance';
import { defaultClock } from './clock';
import { silentLogger } from './events';
import type { Logger } from './types';

/** The top-level options `createBalancer` accepts. */
export const OPTION_KEYS = new Set([
  'service',
  'instances',
  'strategy',
  'health',
  'clock',
  'random',
  'logger',
  'discovery',
]);

export function parseService(value: unknown): string {
  if (value === undefined) return 'default';
  if (typeof value !== 'string' || value.length === 0 || value.length > 128) {
    throw new InvalidConfigError('service', value, 'expected a non-empty string of at most 128 characters');
  }
  return value;
}

export function parseFunction<T>(value: unknown, field: string, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new InvalidConfigError(field, value, 'expected a function');
  return value as T;
}

/** The `clock` option: a function, checked by `readClock` at its first call. */
export function parseClock(value: unknown): () => number {
  return parseFunction(value, 'clock', defaultClock);
}

/**
 * The clock's first reading, at construction: a user clock that throws or returns something
 * other than a finite number of 0 or more is a configuration error named `clock`, not a crash
 * (or every instance ejected) later.
 */
export function readClock(clock: () => number, option: unknown): number {
  let now: unknown;
  try {
    now = clock();
  } catch (error) {
    throw new InvalidConfigError(
      'clock',
      option,
      `the clock threw: ${error instanceof Error ? error.message : typeof error}`,
    );
  }
  // Not below 0: the health model marks "never" and "not set" with -1 and 0.
  if (typeof now !== 'number' || !Number.isFinite(now) || now < 0)
    throw new InvalidConfigError(
      'clock',
      option,
      `expected a function returning finite ms of 0 or more, got ${describe(now)}`,
    );
  return now;
}

/**
 * A user clock after its first reading, guarded for the rest of its life: a reading that is not
 * a finite number, or a call that throws, counts as no time passed since the last good reading,
 * and `onInvalid` hears of it. One NaN would otherwise become a deadline that is never due
 * (every comparison with NaN is false), and ejections would never end. The default clock,
 * `performance.now()`, needs no guard and gets none: it is read on every pick.
 */
export function guardClock(
  clock: () => number,
  first: number,
  onInvalid: (reading: unknown) => void,
): () => number {
  let last = first;
  return () => {
    let reading: unknown;
    try {
      reading = clock();
    } catch (error) {
      onInvalid(error);
      return last;
    }
    // Finite (NaN - NaN and Infinity - Infinity are NaN), and not below 0.
    if (typeof reading === 'number' && reading >= 0 && reading - reading === 0) return (last = reading);
    onInvalid(reading);
    return last;
  };
}

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;

/**
 * Validates a `logger` option: any pino-shaped object, or undefined for a silent logger. A level
 * method that is missing is silent and one that throws is ignored, so logging never breaks a
 * request. Throws `InvalidConfigError` for anything else. For adapters with a `logger` option.
 */
export function parseLogger(value: unknown): Logger {
  if (value === undefined) return silentLogger;
  if (typeof value !== 'object' || value === null || isArray(value))
    throw new InvalidConfigError('logger', value, 'expected a pino-compatible logger');
  const logger = {} as Record<(typeof LEVELS)[number], Logger['info']>;
  for (const level of LEVELS) {
    const method = readField(value, level, 'logger');
    if (method !== undefined && typeof method !== 'function')
      throw new InvalidConfigError(`logger.${level}`, method, 'expected a function');
    logger[level] =
      typeof method === 'function'
        ? (obj, msg) => {
            try {
              (method as Logger['info']).call(value, obj, msg);
            } catch {
              // A broken logger must not break a request.
            }
          }
        : () => {};
  }
  return logger;
}

/** Array.isArray, false where it throws (a revoked Proxy: its reads will say what is wrong). */
function isArray(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}
