import type { IncomingMessage } from 'node:http';
import { InvalidConfigError, type Logger } from '@ballast/core';
import type { HealthCheckOptions, ProxyOptions } from './types';

/** Validated options, defaults filled in. */
export interface ProxyConfig {
  readonly retries: number;
  /** Upper-case method names retried once the request may have been received. */
  readonly retryMethods: ReadonlySet<string>;
  readonly replayBufferBytes: number;
  readonly bufferResponseBytes: number;
  readonly retryBudget: { readonly ratio: number; readonly minRetriesPerSecond: number } | false;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly connections: number;
  readonly earlyCloseLimit: number | false;
  readonly xForwarded: boolean;
  readonly trustForwarded: boolean | ((req: IncomingMessage) => boolean);
  readonly changeOrigin: boolean;
  readonly pathRewrite: ((path: string, req: IncomingMessage) => string) | undefined;
  readonly key: ProxyOptions['key'];
  readonly onProxyRequest: ProxyOptions['onProxyRequest'];
  readonly onProxyResponse: ProxyOptions['onProxyResponse'];
  readonly onError: ProxyOptions['onError'];
  readonly healthCheck: HealthCheckConfig | false;
  readonly logger: Logger;
}

export interface HealthCheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly expectStatus: (status: number) => boolean;
}

const KEYS = [
  'retries',
  'retryMethods',
  'replayBufferBytes',
  'bufferResponseBytes',
  'retryBudget',
  'connectTimeoutMs',
  'timeoutMs',
  'idleTimeoutMs',
  'connections',
  'earlyCloseLimit',
  'xForwarded',
  'trustForwarded',
  'changeOrigin',
  'pathRewrite',
  'key',
  'onProxyRequest',
  'onProxyResponse',
  'onError',
  'healthCheck',
  'logger',
];
const HEALTH_KEYS = [
  'path',
  'intervalMs',
  'timeoutMs',
  'healthyThreshold',
  'unhealthyThreshold',
  'expectStatus',
];
const DEFAULT_RETRY_METHODS = ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'];
/** Longest timer Node accepts (about 24.8 days); beyond it setTimeout fires at once. */
export const MAX_MS = 2_147_483_647;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function checkKeys(value: Record<string, unknown>, known: readonly string[], field: string): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key))
      throw new InvalidConfigError(
        `${field}.${key}`,
        value[key],
        `unknown option; expected one of ${known.join(', ')}`,
      );
  }
}

export function integer(value: unknown, field: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
    throw new InvalidConfigError(field, value, `expected an integer from ${min} to ${max}`);
  return value;
}

function ms(value: unknown, field: string, fallback: number): number {
  return integer(value, field, fallback, 1, MAX_MS);
}

export function boolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidConfigError(field, value, 'expected true or false');
  return value;
}

function fn<T>(value: unknown, field: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new InvalidConfigError(field, value, 'expected a function');
  return value as T;
}

/** Validates `createProxy`'s options; throws `InvalidConfigError` naming the field (`proxy.timeoutMs`). */
export function parseProxyOptions(
  options: ProxyOptions | undefined,
  logger: Logger | undefined,
): ProxyConfig {
  const raw: unknown = options ?? {};
  if (!isObject(raw)) throw new InvalidConfigError('proxy', raw, 'expected an options object');
  checkKeys(raw, KEYS, 'proxy');
  return {
    retries: integer(raw.retries, 'proxy.retries', 1, 0, 10),
    retryMethods: parseMethods(raw.retryMethods),
    replayBufferBytes: integer(raw.replayBufferBytes, 'proxy.replayBufferBytes', 65_536, 0, 64 * 1024 * 1024),
    bufferResponseBytes: integer(
      raw.bufferResponseBytes,
      'proxy.bufferResponseBytes',
      65_536,
      0,
      64 * 1024 * 1024,
    ),
    retryBudget: parseBudget(raw.retryBudget),
    connectTimeoutMs: ms(raw.connectTimeoutMs, 'proxy.connectTimeoutMs', 5_000),
    timeoutMs: ms(raw.timeoutMs, 'proxy.timeoutMs', 30_000),
    idleTimeoutMs: ms(raw.idleTimeoutMs, 'proxy.idleTimeoutMs', 60_000),
    connections: integer(raw.connections, 'proxy.connections', 128, 1, 65_536),
    earlyCloseLimit:
      raw.earlyCloseLimit === false
        ? false
        : integer(raw.earlyCloseLimit, 'proxy.earlyCloseLimit', 5, 1, 1_000),
    xForwarded: boolean(raw.xForwarded, 'proxy.xForwarded', true),
    trustForwarded: parseTrust(raw.trustForwarded),
    changeOrigin: boolean(raw.changeOrigin, 'proxy.changeOrigin', false),
    pathRewrite: parsePathRewrite(raw.pathRewrite),
    key: fn(raw.key, 'proxy.key'),
    onProxyRequest: fn(raw.onProxyRequest, 'proxy.onProxyRequest'),
    onProxyResponse: fn(raw.onProxyResponse, 'proxy.onProxyResponse'),
    onError: fn(raw.onError, 'proxy.onError'),
    healthCheck: parseHealthCheck(raw.healthCheck),
    logger: parseLogger(raw.logger) ?? logger ?? silent,
  };
}

function parseMethods(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(DEFAULT_RETRY_METHODS);
  if (!Array.isArray(value))
    throw new InvalidConfigError('proxy.retryMethods', value, 'expected an array of HTTP methods');
  const methods = new Set<string>();
  value.forEach((method: unknown, i) => {
    if (typeof method !== 'string' || !TOKEN.test(method))
      throw new InvalidConfigError(`proxy.retryMethods[${i}]`, method, 'expected an HTTP method name');
    methods.add(method.toUpperCase());
  });
  return methods;
}

function parseBudget(value: unknown): ProxyConfig['retryBudget'] {
  if (value === false) return false;
  if (value === undefined) return { ratio: 0.2, minRetriesPerSecond: 10 };
  if (!isObject(value))
    throw new InvalidConfigError(
      'proxy.retryBudget',
      value,
      'expected { ratio?, minRetriesPerSecond? } or false',
    );
  checkKeys(value, ['ratio', 'minRetriesPerSecond'], 'proxy.retryBudget');
  const ratio = value.ratio ?? 0.2;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 1))
    throw new InvalidConfigError('proxy.retryBudget.ratio', ratio, 'expected a number from 0 to 1');
  const min = value.minRetriesPerSecond ?? 10;
  if (typeof min !== 'number' || !Number.isFinite(min) || min < 0)
    throw new InvalidConfigError(
      'proxy.retryBudget.minRetriesPerSecond',
      min,
      'expected a finite number >= 0',
    );
  return { ratio, minRetriesPerSecond: min };
}

function parseTrust(value: unknown): ProxyConfig['trustForwarded'] {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'function') return value as (req: IncomingMessage) => boolean;
  throw new InvalidConfigError(
    'proxy.trustForwarded',
    value,
    'expected true, false or a function of the request',
  );
}

function parsePathRewrite(value: unknown): ProxyConfig['pathRewrite'] {
  if (value === undefined) return undefined;
  if (typeof value === 'function') return value as (path: string, req: IncomingMessage) => string;
  if (!isObject(value))
    throw new InvalidConfigError(
      'proxy.pathRewrite',
      value,
      'expected a function or an object of regex to replacement',
    );
  const rules: [RegExp, string][] = [];
  for (const [source, replacement] of Object.entries(value)) {
    const field = `proxy.pathRewrite[${JSON.stringify(source)}]`;
    if (typeof replacement !== 'string')
      throw new InvalidConfigError(field, replacement, 'expected a replacement string');
    let regex: RegExp;
    try {
      regex = new RegExp(source);
    } catch {
      throw new InvalidConfigError('proxy.pathRewrite', source, 'expected valid regular expressions as keys');
    }
    rules.push([regex, replacement]);
  }
  return (path) => {
    for (const [regex, replacement] of rules) {
      if (regex.test(path)) return path.replace(regex, replacement);
    }
    return path;
  };
}

function parseHealthCheck(value: unknown): HealthCheckConfig | false {
  if (value === undefined || value === false) return false;
  if (!isObject(value))
    throw new InvalidConfigError('proxy.healthCheck', value, 'expected an options object or false');
  checkKeys(value, HEALTH_KEYS, 'proxy.healthCheck');
  const options = value as HealthCheckOptions;
  const path = options.path ?? '/health';
  if (typeof path !== 'string' || !path.startsWith('/') || /[^\u0021-\u00ff]/.test(path))
    throw new InvalidConfigError('proxy.healthCheck.path', path, 'expected a path starting with /');
  const intervalMs = ms(options.intervalMs, 'proxy.healthCheck.intervalMs', 10_000);
  return {
    path,
    intervalMs,
    timeoutMs: ms(options.timeoutMs, 'proxy.healthCheck.timeoutMs', Math.min(2_000, intervalMs)),
    healthyThreshold: integer(options.healthyThreshold, 'proxy.healthCheck.healthyThreshold', 2, 1, 100),
    unhealthyThreshold: integer(
      options.unhealthyThreshold,
      'proxy.healthCheck.unhealthyThreshold',
      3,
      1,
      100,
    ),
    expectStatus: parseExpect(options.expectStatus),
  };
}

function parseExpect(value: unknown): (status: number) => boolean {
  const field = 'proxy.healthCheck.expectStatus';
  if (value === undefined) return (status) => status >= 200 && status < 400;
  if (typeof value === 'function') return value as (status: number) => boolean;
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidConfigError(
      field,
      value,
      'expected a status, a non-empty array of statuses or a function',
    );
  for (const status of list) {
    if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599)
      throw new InvalidConfigError(field, value, 'expected HTTP statuses from 100 to 599');
  }
  const statuses = new Set(list as number[]);
  return (status) => statuses.has(status);
}

/** Like core: any pino-shaped object; a missing method is silent, a throwing one is ignored. */
export function parseLogger(value: unknown, field = 'proxy.logger'): Logger | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new InvalidConfigError(field, value, 'expected a pino-compatible logger');
  const wrap = (level: keyof Logger): Logger[keyof Logger] => {
    const method = value[level];
    if (method === undefined) return () => {};
    if (typeof method !== 'function')
      throw new InvalidConfigError(`${field}.${level}`, method, 'expected a function');
    return (obj, msg) => {
      try {
        (method as Logger['info']).call(value, obj, msg);
      } catch {
        // A broken logger must not break a request.
      }
    };
  };
  return { debug: wrap('debug'), info: wrap('info'), warn: wrap('warn'), error: wrap('error') };
}
