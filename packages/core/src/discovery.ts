/**
 * Discovery: a source (DNS, etcd, your own) pushes the complete list of instances whenever it
 * learns one, and the balancer applies the difference by id, as Envoy applies a
 * state-of-the-world EDS update. Instances that stay keep everything they learned (health,
 * latency, ejections); new ones join through slow start; removed ones get no further picks and
 * drain their in-flight leases. Entries are validated like configuration: an invalid one is
 * skipped with a warning. A failure, or a list of which no entry is valid, never empties the
 * pool: the last good list keeps serving, a warning is logged and `discovery-error` emitted.
 *
 * Core stays passive: the source owns every timer and connection; the balancer only reacts.
 */
import { BallastError, describe, fieldPath, InvalidConfigError } from './errors';
import type { Events } from './events';
import { parseInstance, readField, type InstanceSpec, type Member } from './instance';
import type { Discovery, DiscoverySink, DiscoverySnapshot, Logger } from './types';

/** What the feed needs from its balancer. */
export interface DiscoveryHost {
  readonly service: string;
  readonly logger: Logger;
  readonly events: Events;
  now(): number;
  get(id: string): Member | undefined;
  /** Live members (not draining). */
  members(): readonly Member[];
  /** Adds a validated instance; `warm` if the pool was serving before (then it slow-starts). */
  insertDiscovered(spec: InstanceSpec, warm: boolean): void;
  /** Changes weight, zone, metadata and priority in place, keeping the learned state. */
  reconfigure(member: Member, spec: InstanceSpec): void;
  /** Removes an instance the source no longer lists (it drains its leases). */
  removeDiscovered(id: string): void;
  /** Rebuilds the pool now if it changed, announcing a panic that starts or ends. */
  refreshPool(): void;
}

/** Validates the `discovery` option. */
export function parseDiscovery(value: unknown): Discovery {
  if (typeof value !== 'object' || value === null) {
    throw new InvalidConfigError('discovery', value, 'expected a Discovery { name, subscribe(sink) }');
  }
  const subscribe = readField(value, 'subscribe', 'discovery');
  if (typeof subscribe !== 'function')
    throw new InvalidConfigError(fieldPath('discovery', 'subscribe'), subscribe, 'expected a function');
  const name = readField(value, 'name', 'discovery');
  // Room for a source named after a 253-character DNS name (`dns:SRV:<name>`).
  if (typeof name !== 'string' || name.length === 0 || name.length > 320)
    throw new InvalidConfigError(
      fieldPath('discovery', 'name'),
      name,
      'expected a non-empty string of at most 320 characters',
    );
  return value as Discovery;
}

/**
 * A balancer's end of one discovery subscription: validates and applies lists, keeps the state
 * that `snapshot().discovery` reports, and never lets a source's call throw back at it.
 */
export class DiscoveryFeed {
  /** Ids of the instances this feed added (static `instances` are never touched). */
  private readonly ids = new Set<string>();
  private state: DiscoverySnapshot['state'] = 'pending';
  private updates = 0;
  private errors = 0;
  private failures = 0;
  private skipped = 0;
  private updatedAt = -1;
  private lastError: string | undefined;
  private stopped = false;
  /** Inside `subscribe()`, that is inside `createBalancer`: a list delivered now is start-up. */
  private starting = false;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly source: Discovery,
    private readonly host: DiscoveryHost,
  ) {}

  /** Whether no list has been applied yet. */
  get waiting(): boolean {
    return this.updates === 0;
  }

  start(): void {
    const host = this.host;
    const sink: DiscoverySink = {
      service: host.service,
      logger: host.logger,
      update: (list) => this.guard(() => this.apply(list)),
      error: (error) => this.guard(() => this.fail(error)),
    };
    let stop: unknown;
    this.starting = true;
    try {
      stop = this.source.subscribe(sink);
    } catch (error) {
      throw new BallastError(
        'BALLAST_DISCOVERY_ERROR',
        `Discovery "${this.source.name}" failed to subscribe`,
        {
          cause: error,
        },
      );
    } finally {
      this.starting = false;
    }
    if (typeof stop !== 'function') {
      // An async subscribe() returns a promise: the subscription is refused, but the promise
      // must not become an unhandled rejection (the end of the process), and if it does resolve
      // to a stop function, the source it started is stopped.
      if (isThenable(stop)) {
        stop.then(
          (late: unknown) => {
            if (typeof late === 'function') (late as () => void)();
          },
          (error: unknown) =>
            this.host.logger.warn(
              { service: this.host.service, source: this.source.name, error },
              'ballast: discovery subscribe() rejected',
            ),
        );
      }
      throw new InvalidConfigError(
        fieldPath('discovery', 'subscribe'),
        stop,
        'expected subscribe() to return the function that stops it',
      );
    }
    this.unsubscribe = stop as () => void;
    // A source that delivered synchronously may be closed already.
    if (this.stopped) this.stop();
  }

  stop(): void {
    this.stopped = true;
    const unsubscribe = this.unsubscribe;
    this.unsubscribe = undefined;
    if (unsubscribe === undefined) return;
    try {
      unsubscribe();
    } catch (error) {
      this.host.logger.error(
        { service: this.host.service, source: this.source.name, err: error },
        'ballast: discovery unsubscribe threw; ignored',
      );
    }
  }

  snapshot(): DiscoverySnapshot {
    return {
      source: this.source.name,
      state: this.state,
      instances: this.ids.size,
      updates: this.updates,
      errors: this.errors,
      failures: this.failures,
      skipped: this.skipped,
      ...(this.updatedAt < 0 ? {} : { sinceUpdateMs: Math.max(0, this.host.now() - this.updatedAt) }),
      ...(this.lastError === undefined ? {} : { lastError: this.lastError }),
    };
  }

  /** A source calling the sink must never get an exception back, whatever it passes. */
  private guard(fn: () => void): void {
    if (this.stopped) return;
    try {
      fn();
    } catch (error) {
      this.host.logger.error(
        { service: this.host.service, source: this.source.name, err: error },
        'ballast: discovery update failed; the last good list stays',
      );
    }
  }

  private apply(list: unknown): void {
    const { host } = this;
    if (!Array.isArray(list)) {
      this.fail(new TypeError(`discovery delivered ${describe(list)} instead of an array`));
      return;
    }
    const specs = new Map<string, InstanceSpec>();
    let skipped = 0;
    // An index loop: a sparse array's holes are entries too, and invalid ones.
    for (let i = 0; i < list.length; i++) {
      const reason = this.admit(list[i], i, specs);
      if (reason === undefined) continue;
      skipped += 1;
      host.logger.warn(
        { service: host.service, source: this.source.name, entry: i, reason },
        'ballast: discovered instance skipped',
      );
    }
    this.skipped = skipped;
    if (specs.size === 0 && list.length > 0) {
      this.fail(
        new BallastError(
          'BALLAST_DISCOVERY_INVALID',
          `none of the ${list.length} discovered entries is a valid instance`,
        ),
      );
      return;
    }

    // The first list into an empty pool is a start-up: nobody slow-starts against nobody. So is a
    // list delivered while the balancer is being created: the static instances are as new.
    const warm = !this.starting && host.members().length > 0;
    let removed = 0;
    let added = 0;
    let updated = 0;
    let moved = 0;
    // Removals first, so that an instance that moved to a new URL under the same id is re-added
    // (it is another endpoint: what was learned about the old one does not apply).
    for (const id of this.ids) {
      const spec = specs.get(id);
      if (spec !== undefined && spec.url === host.get(id)?.url) continue;
      host.removeDiscovered(id);
      this.ids.delete(id);
      if (spec === undefined) removed += 1;
      else moved += 1;
    }
    for (const spec of specs.values()) {
      const member = this.ids.has(spec.id) ? host.get(spec.id) : undefined;
      if (member === undefined) {
        host.insertDiscovered(spec, warm);
        this.ids.add(spec.id);
        added += 1;
      } else if (!sameSettings(member, spec)) {
        host.reconfigure(member, spec);
        updated += 1;
      }
    }
    // A move was re-added above; it reports as an update.
    added -= moved;
    updated += moved;
    host.refreshPool();

    this.state = 'ok';
    this.updates += 1;
    this.failures = 0;
    this.updatedAt = host.now();
    const total = this.ids.size;
    host.events.emit('discovery-update', {
      service: host.service,
      source: this.source.name,
      added,
      removed,
      updated,
      skipped,
      total,
    });
    const changed = added + removed + updated > 0;
    host.logger[changed ? 'info' : 'debug'](
      { service: host.service, source: this.source.name, added, removed, updated, skipped, total },
      'ballast: discovery list applied',
    );
  }

  /** Validates entry `i` into `specs`; returns why it was skipped, or undefined. */
  private admit(entry: unknown, i: number, specs: Map<string, InstanceSpec>): string | undefined {
    let spec: InstanceSpec;
    try {
      spec = parseInstance(entry as never, `discovery[${i}]`);
    } catch (error) {
      return messageOf(error);
    }
    if (specs.has(spec.id)) return `duplicate id ${JSON.stringify(spec.id)}`;
    if (!this.ids.has(spec.id) && this.host.get(spec.id) !== undefined)
      return `id ${JSON.stringify(spec.id)} belongs to a configured instance`;
    specs.set(spec.id, spec);
    return undefined;
  }

  private fail(error: unknown): void {
    const { host } = this;
    this.errors += 1;
    this.failures += 1;
    this.state = 'failing';
    this.lastError = messageOf(error);
    const kept = this.ids.size;
    host.events.emit('discovery-error', {
      service: host.service,
      source: this.source.name,
      error,
      failures: this.failures,
      kept,
    });
    host.logger.warn(
      { service: host.service, source: this.source.name, err: error, failures: this.failures, kept },
      'ballast: discovery failed; the last good list keeps serving',
    );
  }
}

/** An error's message, also for errors of another realm (`instanceof Error` fails for those). */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : describe(error);
}

function sameSettings(member: Member, spec: InstanceSpec): boolean {
  if (member.weight !== spec.weight || member.zone !== spec.zone || member.priority !== spec.priority)
    return false;
  const a = member.metadata;
  const b = spec.metadata;
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) if (a[key] !== b[key]) return false;
  return true;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
