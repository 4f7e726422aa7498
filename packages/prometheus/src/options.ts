import { InvalidConfigError, type Balancer } from '@ballast/core';
import { Registry } from 'prom-client';
import type { AnyRegistry, MetricsOptions } from './types';

/** prom-client's default buckets, in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Labels Ballast sets itself; a metadata label may not take their names. */
const RESERVED_LABELS = new Set(['service', 'instance', 'outcome', 'state', 'strategy', 'le']);
const OPTION_KEYS = new Set(['registry', 'prefix', 'buckets', 'metadataLabels']);

/** Options checked, with their defaults. */
export interface MetricsConfig {
  readonly registry: AnyRegistry;
  readonly prefix: string;
  /** Upper bounds in ms, increasing. */
  readonly boundsMs: readonly number[];
  readonly buckets: readonly number[];
  readonly metadataLabels: readonly string[];
}

export function parseBalancers(value: unknown): readonly Balancer[] {
  if (isBalancer(value)) return [value];
  if (!Array.isArray(value))
    throw new InvalidConfigError('balancer', value, 'expected a Balancer or an array of Balancers');
  value.forEach((item, i) => {
    if (!isBalancer(item)) throw new InvalidConfigError(`balancer[${i}]`, item, 'expected a Balancer');
  });
  return value as Balancer[];
}

export function parseMetricsOptions(value: unknown): MetricsConfig {
  if (value === undefined) value = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidConfigError('options', value, 'expected an options object');
  const options = value as MetricsOptions & Record<string, unknown>;
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key))
      throw new InvalidConfigError(
        key,
        options[key],
        `unknown option; expected one of ${[...OPTION_KEYS].join(', ')}`,
      );
  }
  const registry: AnyRegistry = options.registry ?? new Registry();
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof registry.registerMetric !== 'function' ||
    typeof registry.getSingleMetric !== 'function'
  )
    throw new InvalidConfigError('registry', registry, 'expected a prom-client Registry');

  const prefix = options.prefix ?? 'ballast_';
  if (typeof prefix !== 'string' || !/^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/.test(prefix))
    throw new InvalidConfigError(
      'prefix',
      prefix,
      'expected a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
    );

  // Array.from before some() and forEach(), which skip an array's holes: every index is checked.
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  if (
    !Array.isArray(buckets) ||
    buckets.length === 0 ||
    Array.from(buckets).some(
      (b, i) => typeof b !== 'number' || !(b > 0) || b === Infinity || (i > 0 && b <= buckets[i - 1]!),
    )
  )
    throw new InvalidConfigError('buckets', buckets, 'expected increasing finite numbers of seconds > 0');

  const metadataLabels = options.metadataLabels ?? [];
  if (!Array.isArray(metadataLabels))
    throw new InvalidConfigError('metadataLabels', metadataLabels, 'expected an array of metadata keys');
  Array.from(metadataLabels as unknown[]).forEach((name, i) => {
    if (typeof name !== 'string' || !/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name) || name.startsWith('__'))
      throw new InvalidConfigError(`metadataLabels[${i}]`, name, 'expected a Prometheus label name');
    if (RESERVED_LABELS.has(name) || metadataLabels.indexOf(name) !== i)
      throw new InvalidConfigError(`metadataLabels[${i}]`, name, 'the label is taken or repeated');
  });

  return {
    registry,
    prefix,
    buckets: [...buckets],
    boundsMs: buckets.map(boundMs),
    metadataLabels: [...metadataLabels],
  };
}

/**
 * A bucket bound in ms. 0.005 s is 5 ms exactly, whatever the float product gives: a product
 * within a few float steps of a whole microsecond is snapped to it. Anything else (a bound of
 * 0.4 µs, or 600.0000004 s) is kept as it is: a tolerance relative to the bound (1e-9 of it)
 * pulled long bounds to the nearest µs, and a latency just under one counted above it.
 */
function boundMs(seconds: number): number {
  const ms = seconds * 1e3;
  const snapped = Math.round(ms * 1e3) / 1e3;
  return Math.abs(snapped - ms) <= ms * 4 * Number.EPSILON ? snapped : ms;
}

function isBalancer(value: unknown): value is Balancer {
  const candidate = value as Partial<Balancer> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.on === 'function' &&
    typeof candidate.off === 'function' &&
    typeof candidate.snapshot === 'function' &&
    typeof candidate.observeReleases === 'function' &&
    typeof candidate.service === 'string'
  );
}
