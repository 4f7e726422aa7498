/**
 * Stable error codes. A code never changes meaning once published; match on it rather than on
 * the message, which is written for people.
 */
export type BallastErrorCode =
  'BALLAST_INVALID_CONFIG' | 'BALLAST_NO_INSTANCE' | 'BALLAST_CLOSED' | (string & {});

/**
 * The base of every error Ballast throws on purpose. `code` is stable; `cause` (ES2022) carries
 * the underlying error where there is one.
 */
export class BallastError extends Error {
  readonly code: BallastErrorCode;

  constructor(code: BallastErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BallastError';
    this.code = code;
  }
}

/**
 * Invalid configuration, thrown at construction. `field` is the dotted path of the offending
 * option (for example `instances[2].weight`) and `value` what it was given.
 */
export class InvalidConfigError extends BallastError {
  readonly field: string;
  readonly value: unknown;
  /** What the field should have been, as the message says it (`expected a function`). */
  readonly expected: string;

  constructor(field: string, value: unknown, expected: string, options?: { cause?: unknown }) {
    super('BALLAST_INVALID_CONFIG', `Invalid ${field}: ${describe(value)} (${expected})`, options);
    this.name = 'InvalidConfigError';
    this.field = field;
    this.value = value;
    this.expected = expected;
  }
}

/**
 * No instance can take the request: the pool is empty, fully ejected, or every candidate was
 * excluded or filtered out. Thrown at once by `pick()`; it never waits.
 */
export class NoInstanceError extends BallastError {
  readonly service: string;

  constructor(service: string, reason: string) {
    super('BALLAST_NO_INSTANCE', `No instance available for service "${service}": ${reason}`);
    this.name = 'NoInstanceError';
    this.service = service;
  }
}

/** Renders a configuration value for an error message: short, one line, never throws. */
export function describe(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  try {
    if (Array.isArray(value)) return `an array of ${value.length}`;
  } catch {
    // A revoked Proxy throws even here.
  }
  return 'an object';
}

/**
 * The path of `key` under `parent` as a reader would write it: `parent.key`, or
 * `parent["odd key"]` for keys that are not plain identifiers (an empty key stays visible).
 */
export function fieldPath(parent: string, key: string): string {
  const name = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  if (parent === '') return /^[A-Za-z_$][\w$-]*$/.test(key) ? key : `[${name}]`;
  return name.startsWith('"') ? `${parent}[${name}]` : `${parent}.${name}`;
}
