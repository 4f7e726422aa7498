import { fieldPath, InvalidConfigError } from './errors';
import type {
  Instance,
  InstanceConfig,
  InstanceInput,
  InstancePatch,
  InstanceSnapshot,
  InstanceState,
} from './types';

// Room for an id DNS discovery derives: a 253-character SRV target, its port and an IPv6 address.
const MAX_ID_LENGTH = 320;
const MAX_ZONE_LENGTH = 128;
const MAX_METADATA_KEYS = 64;
const MAX_METADATA_KEY_LENGTH = 128;
const MAX_METADATA_VALUE_LENGTH = 1024;
/**
 * Weights beyond these bounds carry no extra meaning and only invite float trouble: below about
 * 1e-308, 1 / weight (a scheduler's deadline) is Infinity, and every deadline ties.
 */
const MIN_WEIGHT = 1e-6;
const MAX_WEIGHT = 1e6;
const INSTANCE_KEYS = new Set(['id', 'url', 'weight', 'zone', 'metadata', 'priority']);
/** Priority tiers beyond this carry no extra meaning (DNS SRV priorities are 16-bit). */
const MAX_PRIORITY = 65_535;
const EMPTY_METADATA: Readonly<Record<string, string>> = Object.freeze({});

/** A validated instance configuration. */
export interface InstanceSpec {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly zone: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly priority: number;
}

/**
 * Validates one instance as given by a user, discovery or a config file; `field` names it in
 * errors (for example `instances[2]`). Throws `InvalidConfigError` naming the exact field.
 */
export function parseInstance(input: InstanceInput, field: string): InstanceSpec {
  const fields = typeof input === 'string' ? { url: input } : readPlain(input, field);
  if (fields === undefined)
    throw new InvalidConfigError(
      field,
      input,
      'expected a URL string or { url, id?, weight?, zone?, metadata?, priority? }',
    );
  for (const key of Object.keys(fields)) {
    if (!INSTANCE_KEYS.has(key))
      throw new InvalidConfigError(fieldPath(field, key), fields[key], 'unknown field');
  }
  const url = parseUrl(fields.url, `${field}.url`);
  const id = fields.id === undefined ? url.origin : checkString(fields.id, `${field}.id`, MAX_ID_LENGTH);
  return {
    id,
    url: url.href,
    weight: fields.weight === undefined ? 1 : parseWeight(fields.weight, `${field}.weight`),
    zone: fields.zone === undefined ? undefined : checkString(fields.zone, `${field}.zone`, MAX_ZONE_LENGTH),
    metadata:
      fields.metadata === undefined ? EMPTY_METADATA : parseMetadata(fields.metadata, `${field}.metadata`),
    priority: fields.priority === undefined ? 0 : parsePriority(fields.priority, `${field}.priority`),
  };
}

/**
 * Validates one instance as `createBalancer` validates `instances`, for code that takes instances
 * from elsewhere (a registry, a file) and wants the same errors up front. Returns it normalised
 * (id defaulted to the URL's origin, weight to 1, priority to 0); throws `InvalidConfigError`
 * naming the exact field under `field`.
 *
 * @example
 * validateInstance({ url: 'http://10.0.0.1:3000', weight: 2 }); // { id: 'http://10.0.0.1:3000', ... }
 * validateInstance({ url: 'ftp://x' }); // throws: Invalid instance.url: "ftp://x" (...)
 */
export function validateInstance(
  input: unknown,
  field = 'instance',
): InstanceConfig & { readonly id: string } {
  const spec = parseInstance(input as InstanceInput, field);
  return {
    id: spec.id,
    url: spec.url,
    weight: spec.weight,
    ...(spec.zone === undefined ? {} : { zone: spec.zone }),
    metadata: { ...spec.metadata },
    priority: spec.priority,
  };
}

/** Validates an `update()` patch; returns only the fields it sets. */
export function parsePatch(input: InstancePatch, field: string): InstancePatch {
  const patch = readPlain(input, field);
  if (patch === undefined)
    throw new InvalidConfigError(field, input, 'expected { weight?, zone?, metadata?, priority? }');
  const out: {
    weight?: number;
    zone?: string;
    metadata?: Readonly<Record<string, string>>;
    priority?: number;
  } = {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (key === 'weight') out.weight = parseWeight(value, `${field}.weight`);
    else if (key === 'zone') out.zone = checkString(value, `${field}.zone`, MAX_ZONE_LENGTH);
    else if (key === 'metadata') out.metadata = parseMetadata(value, `${field}.metadata`);
    else if (key === 'priority') out.priority = parsePriority(value, `${field}.priority`);
    else
      throw new InvalidConfigError(
        fieldPath(field, key),
        value,
        'only weight, zone, metadata and priority can be updated',
      );
  }
  return out;
}

export function parseWeight(value: unknown, field: string): number {
  if (typeof value !== 'number' || !(value >= MIN_WEIGHT && value <= MAX_WEIGHT)) {
    throw new InvalidConfigError(field, value, `expected a number from ${MIN_WEIGHT} to ${MAX_WEIGHT}`);
  }
  return value;
}

function parsePriority(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_PRIORITY) {
    throw new InvalidConfigError(field, value, `expected an integer from 0 to ${MAX_PRIORITY}`);
  }
  return value;
}

function parseUrl(value: unknown, field: string): URL {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) {
    throw new InvalidConfigError(field, value, 'expected an absolute http(s) URL');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidConfigError(field, value, 'expected an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidConfigError(field, value, 'expected an absolute http(s) URL');
  }
  if (url.username !== '' || url.password !== '') {
    // Credentials would end up in snapshots, logs and metrics labels.
    throw new InvalidConfigError(field, value, 'credentials in the URL are not allowed');
  }
  return url;
}

function checkString(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new InvalidConfigError(
      field,
      value,
      `expected a non-empty string of at most ${maxLength} characters`,
    );
  }
  return value;
}

function parseMetadata(input: unknown, field: string): Readonly<Record<string, string>> {
  const value = readPlain(input, field);
  if (value === undefined) throw new InvalidConfigError(field, input, 'expected a flat object of strings');
  const keys = Object.keys(value);
  if (keys.length > MAX_METADATA_KEYS) {
    throw new InvalidConfigError(field, input, `expected at most ${MAX_METADATA_KEYS} keys`);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const key of keys) {
    if (key.length > MAX_METADATA_KEY_LENGTH || key.length === 0) {
      throw new InvalidConfigError(
        `${field}.${key.slice(0, 40)}`,
        key,
        `keys must have 1 to ${MAX_METADATA_KEY_LENGTH} characters`,
      );
    }
    const item = value[key];
    if (typeof item !== 'string' || item.length > MAX_METADATA_VALUE_LENGTH) {
      throw new InvalidConfigError(
        fieldPath(field, key),
        item,
        `expected a string of at most ${MAX_METADATA_VALUE_LENGTH} characters`,
      );
    }
    out[key] = item;
  }
  return Object.freeze(out);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A configuration object's own properties, read once into a null-prototype copy, or undefined if
 * `value` is not a plain object. Validation then reads data, not getters or Proxy traps: one that
 * throws (a revoked Proxy included) is invalid configuration named `field`, or the key it was
 * reading, never an exception from inside. `field` '' is the top level (`createBalancer` options).
 */
export function readPlain(value: unknown, field: string): Record<string, unknown> | undefined {
  let keys: string[];
  try {
    if (!isPlainObject(value)) return undefined;
    keys = Object.keys(value);
  } catch (error) {
    throw new InvalidConfigError(field || 'options', value, 'could not be read', { cause: error });
  }
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of keys) copy[key] = readField(value, key, field);
  return copy;
}

/**
 * The length of `value` if it is an array, else undefined; as `readPlain`, an array that throws
 * to inspect (a revoked Proxy) is invalid at `field`. Read its elements with `readItem`.
 */
export function readLength(value: unknown, field: string): number | undefined {
  try {
    return Array.isArray(value) ? value.length : undefined;
  } catch (error) {
    throw new InvalidConfigError(field, value, 'could not be read', { cause: error });
  }
}

/** `list[i]` for validation: an element that throws to read is invalid at `field[i]`. */
export function readItem(list: unknown, i: number, field: string): unknown {
  try {
    return (list as unknown[])[i];
  } catch (error) {
    throw new InvalidConfigError(`${field}[${i}]`, undefined, 'reading it threw', { cause: error });
  }
}

/** `object[key]` for validation: a getter or Proxy trap that throws is invalid at that key. */
export function readField(object: object, key: string, field: string): unknown {
  try {
    return (object as Record<string, unknown>)[key];
  } catch (error) {
    throw new InvalidConfigError(fieldPath(field, key), undefined, 'reading it threw', { cause: error });
  }
}

/**
 * The live state of one instance. One class with every field set in the constructor keeps
 * objects monomorphic, which the pick loop depends on for speed.
 *
 * Every number field has a number initializer, even those the constructor sets: a class field
 * declared bare starts out `undefined`, and V8 then keeps the field as a generic tagged value,
 * so every store of a fractional number allocates a fresh heap number (with a write barrier)
 * instead of writing into the field's own box. On the release path that cost 20–35 ns a pick.
 */
export class Member implements Instance {
  // Field order is memory order: V8 lays fields out as declared, and the heap numbers of double
  // fields follow the object in the same order. The fields every pick and release touch come
  // first, so on a large pool one pick reads two or three cache lines of a member, not six.
  /** Requests picked and not yet released. */
  inflight = 0;
  /** Least connections: when its load last changed (a count), for rotating ties. */
  loadSeq = 0;
  /** Stable small integer, unique among the balancer's live members; strategies index arrays by it. */
  readonly slot: number = 0;
  /** In the current eligible pool. */
  eligible = true;
  /** Removed from the balancer, finishing its in-flight leases. */
  draining = false;
  checkOk = true;
  requests = 0;
  consecutiveFailures = 0;
  history = 0;
  historyLength = 0;
  effectiveWeight = 1;
  // Strategy scratch space. Each built-in strategy owns one field, so switching strategies
  // (adaptive) keeps each one's state warm without a map lookup per pick. Peak-EWMA's are read
  // for both candidates of a pick, so they sit by `effectiveWeight`.
  /** Peak-EWMA: latency estimate (ms) and when it was last updated. */
  peakEwmaMs = -1;
  peakEwmaAt = 0;
  successRate = 1;
  latencyMs = 0;
  lastLatencyMs = 0;
  /** Clock time of the last released outcome (ms). */
  lastOutcomeAt = 0;
  health = 1;
  /** Passive-score factor: latency against the pool (see health/). */
  latencyScore = 1;

  /** Smooth weighted round-robin: current weight. */
  currentWeight = 0;

  readonly id: string;
  readonly url: string;
  weight = 1;
  zone: string | undefined;
  metadata: Readonly<Record<string, string>>;
  priority = 0;
  failures = 0;
  state: InstanceState = 'healthy';

  // Health model state (see health/).
  /** Outlier ejection: ejected until this time (ms; 0 when not ejected) and consecutive ejections. */
  ejectedUntil = 0;
  ejections = 0;
  /** When the last ejection ended (ms; -1 never): the multiplier decays only over clean intervals. */
  restoredAt = -1;
  /** Slow start: ramp start time (ms; -1 when not ramping) and current weight factor. */
  slowStartAt = -1;
  slowStartFactor = 1;
  /** Server-reported utilization (ORCA), when it was first and last reported (ms), and its weight factor. */
  utilization = -1;
  loadSince = -1;
  loadAt = -1;
  loadFactor = 1;
  /** Requests and failures at the start of the current outlier interval and load period. */
  intervalRequests = 0;
  intervalFailures = 0;
  periodRequests = 0;
  periodFailures = 0;
  /** Request and error rates (per second, exponentially weighted) for the load factor. */
  loadQps = 0;
  loadEps = 0;
  /** Clock time the member joined (ms). */
  readonly addedAt: number = 0;

  constructor(spec: InstanceSpec, slot: number, now: number) {
    this.id = spec.id;
    this.url = spec.url;
    this.weight = spec.weight;
    this.effectiveWeight = spec.weight;
    this.zone = spec.zone;
    this.metadata = spec.metadata;
    this.priority = spec.priority;
    this.slot = slot;
    this.addedAt = now;
    this.lastOutcomeAt = now;
  }

  /** Whether `zone` and metadata include every pair of `match`. */
  matches(match: Readonly<Record<string, string>>): boolean {
    for (const key in match) {
      const want = match[key];
      // An undefined value constrains nothing, as with an optional field spread into `match`.
      if (want === undefined) continue;
      const have = key === 'zone' ? this.zone : this.metadata[key];
      if (have !== want) return false;
    }
    return true;
  }
}

/** The JSON-serialisable state of a member, as `snapshot()` reports it. */
export function snapshotOf(m: Member): InstanceSnapshot {
  return {
    id: m.id,
    url: m.url,
    weight: m.weight,
    effectiveWeight: m.effectiveWeight,
    ...(m.zone === undefined ? {} : { zone: m.zone }),
    metadata: { ...m.metadata },
    priority: m.priority,
    inflight: m.inflight,
    health: m.health,
    state: m.state,
    requests: m.requests,
    failures: m.failures,
    successRate: m.successRate,
    latencyMs: m.latencyMs,
  };
}
