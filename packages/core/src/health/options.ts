import { InvalidConfigError } from '../errors';
import { readOptions } from '../options';

/** Outlier ejection settings; names and defaults as in Envoy's outlier detection and gRPC's. */
export interface OutlierConfig {
  readonly consecutiveFailures: number;
  readonly intervalMs: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
  readonly successRate:
    { readonly stdevFactor: number; readonly minimumHosts: number; readonly requestVolume: number } | false;
  readonly failurePercentage:
    { readonly threshold: number; readonly minimumHosts: number; readonly requestVolume: number } | false;
}

export interface SlowStartConfig {
  readonly windowMs: number;
  readonly aggression: number;
  readonly minWeightPercent: number;
}

/** Server-reported load (ORCA) settings, as gRPC's weighted round robin. */
export interface LoadConfig {
  readonly blackoutMs: number;
  readonly expiryMs: number;
  readonly errorUtilizationPenalty: number;
}

export interface HealthConfig {
  readonly threshold: number;
  readonly panicThreshold: number;
  readonly failOnPanic: boolean;
  readonly window: number;
  readonly recoveryHalfLifeMs: number;
  /** An instance whose latency is this many times the pool's mean loses health in proportion. */
  readonly latencyFactor: number;
  readonly outlier: OutlierConfig | false;
  readonly slowStart: SlowStartConfig | false;
  readonly load: LoadConfig;
}

const HEALTH_KEYS = [
  'threshold',
  'panicThreshold',
  'failOnPanic',
  'window',
  'recoveryHalfLifeMs',
  'latencyFactor',
  'outlier',
  'slowStart',
  'load',
];

/** Validates the `health` option; every field is optional and `outlier`/`slowStart` may be `false`. */
export function parseHealthOptions(options: unknown, field = 'health'): HealthConfig {
  const o = readOptions(options ?? {}, field, HEALTH_KEYS);
  const raw = { outlier: o.value('outlier'), slowStart: o.value('slowStart'), load: o.value('load') };
  return {
    threshold: o.fraction('threshold', 0.5),
    panicThreshold: o.fraction('panicThreshold', 0.5),
    failOnPanic: o.boolean('failOnPanic', false),
    window: o.integer('window', 10, 1, 100_000),
    recoveryHalfLifeMs: o.positive('recoveryHalfLifeMs', 10_000),
    latencyFactor: o.positive('latencyFactor', 10),
    outlier: raw.outlier === false ? false : parseOutlier(raw.outlier, `${field}.outlier`),
    slowStart: raw.slowStart === false ? false : parseSlowStart(raw.slowStart, `${field}.slowStart`),
    load: parseLoad(raw.load, `${field}.load`),
  };
}

function parseOutlier(options: unknown, field: string): OutlierConfig {
  const o = readOptions(options ?? {}, field, [
    'consecutiveFailures',
    'intervalMs',
    'baseEjectionMs',
    'maxEjectionMs',
    'maxEjectionPercent',
    'successRate',
    'failurePercentage',
  ]);
  const raw = { successRate: o.value('successRate'), failurePercentage: o.value('failurePercentage') };
  const baseEjectionMs = o.positive('baseEjectionMs', 30_000);
  // As Envoy's max_ejection_time: 300 s, or the base ejection time if that is longer.
  const maxEjectionMs = o.positive('maxEjectionMs', Math.max(300_000, baseEjectionMs));
  if (maxEjectionMs < baseEjectionMs) {
    throw new InvalidConfigError(
      `${field}.maxEjectionMs`,
      maxEjectionMs,
      `expected at least baseEjectionMs (${baseEjectionMs})`,
    );
  }
  return {
    consecutiveFailures: o.integer('consecutiveFailures', 5, 0, 1_000_000),
    intervalMs: o.positive('intervalMs', 10_000),
    baseEjectionMs,
    maxEjectionMs,
    maxEjectionPercent: o.integer('maxEjectionPercent', 10, 0, 100),
    successRate:
      raw.successRate === false ? false : parseSuccessRate(raw.successRate, `${field}.successRate`),
    failurePercentage:
      raw.failurePercentage === false
        ? false
        : parseFailurePercentage(raw.failurePercentage, `${field}.failurePercentage`),
  };
}

function parseSuccessRate(options: unknown, field: string): Exclude<OutlierConfig['successRate'], false> {
  const o = readOptions(options ?? {}, field, ['stdevFactor', 'minimumHosts', 'requestVolume']);
  return {
    stdevFactor: o.positive('stdevFactor', 1.9),
    minimumHosts: o.integer('minimumHosts', 5, 1, 1_000_000),
    requestVolume: o.integer('requestVolume', 100, 1, 1_000_000_000),
  };
}

function parseFailurePercentage(
  options: unknown,
  field: string,
): Exclude<OutlierConfig['failurePercentage'], false> {
  const o = readOptions(options ?? {}, field, ['threshold', 'minimumHosts', 'requestVolume']);
  return {
    threshold: o.integer('threshold', 85, 0, 100),
    minimumHosts: o.integer('minimumHosts', 5, 1, 1_000_000),
    requestVolume: o.integer('requestVolume', 50, 1, 1_000_000_000),
  };
}

function parseSlowStart(options: unknown, field: string): SlowStartConfig {
  const o = readOptions(options ?? {}, field, ['windowMs', 'aggression', 'minWeightPercent']);
  return {
    windowMs: o.positive('windowMs', 30_000),
    aggression: o.positive('aggression', 1),
    minWeightPercent: o.integer('minWeightPercent', 10, 1, 100),
  };
}

function parseLoad(options: unknown, field: string): LoadConfig {
  // Unlike outlier and slowStart, `load` cannot be null: readOptions rejects it.
  const o = readOptions(options === undefined ? {} : options, field, [
    'blackoutMs',
    'expiryMs',
    'errorUtilizationPenalty',
  ]);
  return {
    blackoutMs: o.nonNegative('blackoutMs', 10_000),
    expiryMs: o.positive('expiryMs', 180_000),
    errorUtilizationPenalty: o.nonNegative('errorUtilizationPenalty', 1),
  };
}
