import { fieldPath, InvalidConfigError } from './errors';
import { readPlain } from './instance';

/**
 * Reads a strategy's options object with validation that names the field: unknown keys are
 * rejected (a typo must not silently fall back to a default). Each property is read once
 * (see `readPlain`); `value(key)` gives it unvalidated, for nested options.
 */
export function readOptions(input: unknown, field: string, known: readonly string[], named = false) {
  const options = readPlain(input, field);
  if (options === undefined) throw new InvalidConfigError(field, input, 'expected an options object');
  for (const key of Object.keys(options)) {
    if (!(named && key === 'name') && !known.includes(key)) {
      throw new InvalidConfigError(
        fieldPath(field, key),
        options[key],
        `unknown option; expected one of ${known.join(', ') || 'none'}`,
      );
    }
  }
  const get = (key: string): unknown => options[key];
  return {
    value: get,
    positive(key: string, fallback: number): number {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
        throw new InvalidConfigError(fieldPath(field, key), value, 'expected a finite number > 0');
      }
      return value;
    },
    nonNegative(key: string, fallback: number): number {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw new InvalidConfigError(fieldPath(field, key), value, 'expected a finite number >= 0');
      }
      return value;
    },
    integer(key: string, fallback: number, min: number, max: number): number {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
        throw new InvalidConfigError(
          fieldPath(field, key),
          value,
          `expected an integer from ${min} to ${max}`,
        );
      }
      return value;
    },
    fraction(key: string, fallback: number): number {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
        throw new InvalidConfigError(fieldPath(field, key), value, 'expected a number from 0 to 1');
      }
      return value;
    },
    /** A weight that must move something: in (0, 1]. */
    positiveFraction(key: string, fallback: number): number {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
        throw new InvalidConfigError(fieldPath(field, key), value, 'expected a number above 0, up to 1');
      }
      return value;
    },
    boolean(key: string, fallback: boolean): boolean {
      const value = get(key);
      if (value === undefined) return fallback;
      if (typeof value !== 'boolean')
        throw new InvalidConfigError(fieldPath(field, key), value, 'expected true or false');
      return value;
    },
  };
}
