import {
  BallastError,
  validateInstance,
  type Discovery,
  type DiscoverySink,
  type InstanceConfig,
} from '@ballast/core';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';

import * as connection from './client';
import type { Backoff, ConnectionConfig, EtcdConnectionOptions } from './client';

/** Options of `etcdDiscovery`. */
export interface EtcdDiscoveryOptions extends Omit<EtcdConnectionOptions, 'logger'> {
  /** The service whose instances to watch: the keys `<prefix>/<service>/<id>`. */
  readonly service: string;
}

/**
 * A discovery source that watches the instances registered in etcd under
 * `<prefix>/<service>/<id>` (values: instance JSON `{ id?, url, weight?, zone?, metadata?,
 * priority? }`; `id` defaults to the key's last segment, URI-decoded). It reads the whole
 * directory, then watches it from that revision, handing the balancer the complete list after
 * each change. A value that is not valid instance JSON is skipped with a warning naming its key;
 * the watch goes on. When etcd is unreachable the balancer keeps the last good list (a
 * `discovery-error` per lost connection); when the watch reconnects, the directory is read again,
 * so nothing missed in between is lost. Give it to `createBalancer({ discovery })`; the balancer
 * starts it and `balancer.close()` stops it (and its client).
 *
 * @example
 * ```ts
 * const balancer = createBalancer({
 *   service: 'users',
 *   discovery: etcdDiscovery({ hosts: 'http://10.0.0.5:2379', service: 'users' }),
 * });
 * ```
 */
export function etcdDiscovery(options: EtcdDiscoveryOptions): Discovery {
  const keys = connection.CONNECTION_KEYS.filter((key) => key !== 'logger');
  const { config } = connection.readConnection(options, keys, 'etcdDiscovery');
  const name = `etcd:${connection.serviceDir(config)}`;
  return {
    name,
    subscribe(sink) {
      const watch = new EtcdWatch(config, sink, name);
      watch.start();
      return () => watch.stop();
    },
  };
}

/** One subscription: its own client, directory copy and watch. */
class EtcdWatch {
  private readonly client: Etcd3;
  private readonly dir: string;
  /** Key -> valid instance, or undefined for a value that was skipped. */
  private entries = new Map<string, InstanceConfig | undefined>();
  /** Revision of the last full read; watch events at or below it are already in the entries. */
  private revision = 0;
  /** Highest revision read or applied: how far the watch has followed etcd's history. */
  private latest = 0;
  private watcher: Watcher | undefined;
  private syncing = false;
  /** A read was asked for while one was in flight (a reconnection during the first read). */
  private syncAgain = false;
  /** Events that arrived while a read was in flight, replayed on top of its result. */
  private pending: Array<{ kind: 'put' | 'delete'; kv: IKeyValue }> = [];
  private disconnected = false;
  private publishQueued = false;
  private stopped = false;
  private retry: Backoff;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ConnectionConfig,
    private readonly sink: DiscoverySink,
    private readonly name: string,
  ) {
    this.client = connection.createClient(config);
    this.dir = connection.serviceDir(config);
    this.retry = connection.retrySchedule(config);
  }

  start(): void {
    void this.sync();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const watcher = this.watcher;
    this.watcher = undefined;
    // Cancelling tells etcd; closing the client ends the stream either way.
    void (watcher?.cancel() ?? Promise.resolve()).catch(() => {}).finally(() => this.client.close());
  }

  /** Reads the whole directory, publishes it, and makes sure a watch follows from there. */
  private async sync(): Promise<void> {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    this.syncAgain = false;
    this.pending = [];
    const seen = this.latest;
    try {
      const res = await this.client.getAll().prefix(this.dir).exec();
      if (this.stopped) return;
      const revision = Number(res.header.revision);
      // An etcd back without its data (or restored from an older snapshot) counts revisions
      // from below what the watch saw: etcd3's watch resumes after its last revision and would
      // miss every change until the new history caught up. Watch again from this read.
      if (revision < seen) this.unwatch();
      this.latest = revision;
      const entries = new Map<string, InstanceConfig | undefined>();
      for (const kv of res.kvs) this.read(entries, kv);
      this.entries = entries;
      this.revision = revision;
      for (const event of this.pending) this.apply(event.kind, event.kv);
      this.pending = [];
      this.syncing = false;
      this.disconnected = false;
      this.publish();
      this.retry = connection.retrySchedule(this.config);
      if (this.watcher === undefined) this.watch(revision);
      if (this.syncAgain) void this.sync();
    } catch (error) {
      this.syncing = false;
      if (this.stopped) return;
      // An outage already reported is not reported again on every attempt.
      if (!this.disconnected) this.sink.error(error);
      this.retryLater();
    }
  }

  private watch(revision: number): void {
    // watcher() rather than create(): create() resolves only once the watch is connected, and an
    // outage that starts before then would go unreported. Listeners are attached right away.
    const watcher = this.client
      .watch()
      .prefix(this.dir)
      .startRevision(String(revision + 1))
      .watcher();
    this.watcher = watcher;
    // A replaced watch may still deliver until etcd confirms its cancellation: only the current
    // one speaks, or an old event could undo a newer one.
    watcher.on('put', (kv) => {
      if (this.watcher === watcher) this.event('put', kv);
    });
    watcher.on('delete', (kv) => {
      if (this.watcher === watcher) this.event('delete', kv);
    });
    watcher.on('disconnected', (error) => {
      if (this.stopped || this.watcher !== watcher) return;
      // One report per outage, not one per attempt; until it ends the last list serves.
      if (!this.disconnected) this.sink.error(error);
      this.disconnected = true;
      // Reconnection is ours, not etcd3's: its timers cannot be cancelled, and at a backoff
      // grown to 10 s they held the process up that long after close(). The directory is read
      // again (on a timer stop() clears, doubling from retryMs), then watched from there: so
      // nothing the outage hid is missed.
      this.unwatch();
      this.retryLater();
    });
    watcher.on('error', (error) => {
      // A watch etcd cancelled (its revision compacted away...): start over with a fresh one.
      if (this.watcher === watcher) this.watcher = undefined;
      void watcher.cancel().catch(() => {});
      if (this.stopped) return;
      this.sink.error(error);
      this.retryLater();
    });
  }

  /** Cancels the current watch (if any); `sync()` starts the next one. */
  private unwatch(): void {
    const watcher = this.watcher;
    this.watcher = undefined;
    void watcher?.cancel().catch(() => {});
  }

  private retryLater(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.retry = this.retry.next();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, this.retry.duration);
    this.timer.unref();
  }

  private event(kind: 'put' | 'delete', kv: IKeyValue): void {
    if (this.stopped) return;
    if (this.syncing) this.pending.push({ kind, kv });
    else if (this.apply(kind, kv)) this.publish();
  }

  /**
   * Applies one watch event unless the last read already includes it; returns whether it did.
   * `revision` stays that of the read: the events of one transaction or range delete share
   * their revision, and each of them must apply.
   */
  private apply(kind: 'put' | 'delete', kv: IKeyValue): boolean {
    const revision = Number(kv.mod_revision);
    if (revision <= this.revision) return false;
    this.latest = Math.max(this.latest, revision);
    if (kind === 'put') this.read(this.entries, kv);
    else this.entries.delete(kv.key.toString());
    return true;
  }

  /**
   * Validates one stored value into `entries`; a bad one is kept as undefined, with a warning. A
   * key that is not an instance's (deeper in the directory) is skipped with a warning and not
   * kept: it must not turn the deregistration of the last instance into a failed list.
   */
  private read(entries: Map<string, InstanceConfig | undefined>, kv: IKeyValue): void {
    const key = kv.key.toString();
    const id = key.slice(this.dir.length);
    if (id.length === 0 || id.includes('/')) {
      this.warn(key, 'not a key of the form <prefix>/<service>/<id>');
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(kv.value.toString());
    } catch (error) {
      this.warn(key, `not JSON: ${(error as Error).message}`);
      entries.set(key, undefined);
      return;
    }
    try {
      // A bare URL (core takes one for an instance) gets its id from the key too.
      const withId =
        typeof value === 'string'
          ? { url: value, id: decodeId(id) }
          : typeof value === 'object' && value !== null && !Array.isArray(value) && !('id' in value)
            ? { ...value, id: decodeId(id) }
            : value;
      entries.set(key, validateInstance(withId, key));
    } catch (error) {
      this.warn(key, (error as Error).message);
      entries.set(key, undefined);
    }
  }

  private warn(key: string, reason: string): void {
    this.sink.logger.warn(
      { service: this.sink.service, source: this.name, key, reason },
      'ballast: etcd value is not valid instance JSON; skipped',
    );
  }

  /** Hands the balancer the list once per burst of events (a registration puts one key, a restart many). */
  private publish(): void {
    if (this.publishQueued) return;
    this.publishQueued = true;
    queueMicrotask(() => {
      this.publishQueued = false;
      if (this.stopped) return;
      const list: InstanceConfig[] = [];
      for (const entry of this.entries.values()) if (entry !== undefined) list.push(entry);
      // Values there but none valid is a failure, as core counts a list with no valid entry:
      // the last good list keeps serving instead of the pool going empty.
      if (list.length === 0 && this.entries.size > 0) {
        this.sink.error(
          new BallastError(
            'BALLAST_DISCOVERY_INVALID',
            `none of the ${this.entries.size} values under ${this.dir} is valid instance JSON`,
          ),
        );
        return;
      }
      this.sink.update(list);
    });
  }
}

function decodeId(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
