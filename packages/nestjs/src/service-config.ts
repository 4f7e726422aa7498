import {
  BallastError,
  InvalidConfigError,
  parseLogger,
  type BalancerOptions,
  type Logger,
} from '@ballast/core';

import { nestLogger } from './nest-logger';
import type { BallastModuleOptions, ServiceConfig } from './types';

/** Module options checked, with each service's parts apart and the logger resolved. */
export interface ParsedService {
  readonly name: string;
  readonly balancer: BalancerOptions;
  readonly config: ServiceConfig;
  readonly logger: Logger;
}

const SERVICE_NAME = /^[A-Za-z0-9][\w.-]*$/;
const MODULE_KEYS = new Set(['services', 'logger', 'statusPage']);

/**
 * Checks the module options and splits each service into balancer options and the rest. Throws
 * `InvalidConfigError` naming the field (`services.users.instances[0].url`) and its value.
 */
export function parseModuleOptions(options: unknown): { logger: Logger; services: ParsedService[] } {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidConfigError('BallastModule options', options, 'expected an object with `services`');
  }
  for (const key of Object.keys(options)) {
    if (!MODULE_KEYS.has(key)) {
      throw new InvalidConfigError(
        childField('', key),
        (options as Record<string, unknown>)[key],
        'unknown option',
      );
    }
  }
  const { services, logger } = options as BallastModuleOptions;
  // A plain object only: a Map (or any class instance) has no own entries to read, and would
  // configure nothing without a word.
  const proto: unknown =
    typeof services === 'object' && services !== null ? Object.getPrototypeOf(services) : undefined;
  if (typeof services !== 'object' || services === null || (proto !== Object.prototype && proto !== null)) {
    throw new InvalidConfigError('services', services, 'expected an object of service name to options');
  }
  // parseLogger also isolates the logger: a throwing one never breaks a request.
  const moduleLogger =
    logger === false ? parseLogger(undefined) : logger === undefined ? nestLogger() : parseLogger(logger);

  const parsed = Object.entries(services).map(([name, config]): ParsedService => {
    const field = `services.${name}`;
    if (!SERVICE_NAME.test(name)) {
      throw new InvalidConfigError(
        `services[${JSON.stringify(name)}]`,
        name,
        'a name of letters, digits, _ . -',
      );
    }
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new InvalidConfigError(field, config, 'expected the options of a balancer');
    }
    // Core rejects options it does not know: the module's own go elsewhere.
    const { healthCheck: _healthCheck, proxy, http, ...balancer } = config;
    // Spread into the proxy's options, anything but an object would vanish without a word.
    if (proxy !== undefined && (typeof proxy !== 'object' || proxy === null || Array.isArray(proxy))) {
      throw new InvalidConfigError(`${field}.proxy`, proxy, 'expected the options of a proxy');
    }
    if (http !== undefined) checkHttp(`${field}.http`, http);
    return {
      name,
      config,
      balancer: { service: name, ...balancer, logger: balancer.logger ?? moduleLogger },
      logger: balancer.logger ?? moduleLogger,
    };
  });
  return { logger: moduleLogger, services: parsed };
}

const HTTP_KEYS = new Set(['retries', 'key', 'config']);

/**
 * Checks a service's `http` option at startup, as `withBalancer` would when the client is first
 * used (with `forRootAsync`, maybe long after): a bad value fails startup, named in full.
 */
function checkHttp(field: string, http: unknown): void {
  if (typeof http !== 'object' || http === null || Array.isArray(http)) {
    throw new InvalidConfigError(field, http, 'expected { retries?, key?, config? }');
  }
  const { retries, key, config } = http as Record<string, unknown>;
  for (const name of Object.keys(http)) {
    if (!HTTP_KEYS.has(name)) {
      throw new InvalidConfigError(
        childField(field, name),
        (http as Record<string, unknown>)[name],
        'unknown option',
      );
    }
  }
  if (retries !== undefined && (!Number.isInteger(retries) || (retries as number) < 0)) {
    throw new InvalidConfigError(`${field}.retries`, retries, 'a whole number of retries, 0 or more');
  }
  if (key !== undefined && typeof key !== 'function') {
    throw new InvalidConfigError(`${field}.key`, key, 'a function of the request config');
  }
  if (config !== undefined && (typeof config !== 'object' || config === null || Array.isArray(config))) {
    throw new InvalidConfigError(`${field}.config`, config, 'expected the options of axios.create()');
  }
}

/**
 * Runs `build` for one service; an `InvalidConfigError` from core or node gets its field
 * prefixed with the service (`instances[0].url` becomes `services.users.instances[0].url`).
 */
export function inService<T>(name: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error;
    // Node names proxy options `proxy.*`; health checks are a service option here.
    throw renamed(error, `services.${name}.${error.field.replace(/^proxy\.healthCheck\b/, 'healthCheck')}`);
  }
}

/** `error` under the name its field has in the module options; the value and reason stay. */
export function renamed(error: InvalidConfigError, field: string): InvalidConfigError {
  return new InvalidConfigError(field, error.value, error.expected, { cause: error.cause });
}

/** The error of `BallastService.get()` and the injection tokens for a name nobody configured. */
export function unknownService(name: string, known: readonly string[]): BallastError {
  return new BallastError(
    'BALLAST_UNKNOWN_SERVICE',
    `No Ballast service named ${JSON.stringify(name)}; configured: ` +
      `${known.length > 0 ? known.map((n) => JSON.stringify(n)).join(', ') : 'none'}`,
  );
}

/** `parent.key`, or `parent["odd key"]` for a key that is not an identifier (`""` stays visible). */
function childField(parent: string, key: string): string {
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}
