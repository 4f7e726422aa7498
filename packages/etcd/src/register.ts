import {
  BallastError,
  InvalidConfigError,
  parseLogger,
  validateInstance,
  type InstanceConfig,
  type Logger,
} from '@ballast/core';
import type { Etcd3, Lease } from 'etcd3';

import { CONNECTION_KEYS, createClient, readConnection, retrySchedule, serviceDir } from './client';
import type { Backoff, EtcdConnectionOptions } from './client';

/** Options of `registerInstance`. */
export interface RegisterInstanceOptions extends EtcdConnectionOptions {
  /** The service to register under: the key `<prefix>/<service>/<id>`. */
  readonly service: string;
  /** This instance, validated like `instances` configuration. Its `id` defaults to the URL's origin. */
  readonly instance: InstanceConfig;
  /**
   * Lease time to live, in whole seconds: if the process dies (no keep-alive) the key is gone
   * this long after the last keep-alive. Keep-alives go out every third of it.
   */
  readonly ttlSeconds: number;
}

/** A running registration. */
export interface Registration {
  /** The etcd key holding this instance. */
  readonly key: string;
  /** Deregisters (revokes the lease, which deletes the key) and closes the client. Idempotent. */
  close(): Promise<void>;
}

const KEYS = [...CONNECTION_KEYS, 'instance', 'ttlSeconds'];

/**
 * Registers a running service instance in etcd under a lease that is kept alive while the
 * process runs; resolves once the key is written. If the lease is lost (etcd was unreachable
 * for longer than the TTL), it registers again under a new lease as soon as etcd answers.
 * `close()` deregisters at once. Throws `InvalidConfigError` naming the option if one is invalid,
 * and a `BallastError` (`BALLAST_REGISTRATION_FAILED`, with the etcd error as `cause`) if etcd
 * does not take the first registration.
 *
 * @example
 * ```ts
 * const registration = await registerInstance({
 *   hosts: 'http://10.0.0.5:2379',
 *   service: 'users',
 *   instance: { id: 'users-1', url: 'http://10.0.0.7:3000', zone: 'eu-west-1a' },
 *   ttlSeconds: 10,
 * });
 * process.once('SIGTERM', () => void registration.close().then(() => server.close()));
 * ```
 */
export async function registerInstance(options: RegisterInstanceOptions): Promise<Registration> {
  const { config } = readConnection(options, KEYS, 'registerInstance');
  const { ttlSeconds } = options;
  // Every level checked and guarded: the keep-alive logs from inside etcd3's timers, where a
  // missing or throwing method would crash the process.
  const logger = parseLogger(options.logger);
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isInteger(ttlSeconds) ||
    ttlSeconds < 2 ||
    ttlSeconds > 86_400
  )
    // etcd grants no lease under 1.5 election timeouts (2 s by default): a TTL of 1 was 2.
    throw new InvalidConfigError('ttlSeconds', ttlSeconds, 'expected an integer from 2 to 86400');
  const instance = validateInstance(options.instance, 'instance');
  const key = `${serviceDir(config)}${encodeURIComponent(instance.id)}`;
  const value = JSON.stringify(instance);

  const client = createClient(config);
  const registration = new Keeper(client, key, value, ttlSeconds, logger, retrySchedule(config));
  try {
    await registration.register();
  } catch (error) {
    await registration.close();
    throw new BallastError('BALLAST_REGISTRATION_FAILED', `Could not register ${key} in etcd`, {
      cause: error,
    });
  }
  return { key, close: () => registration.close() };
}

/** Holds one key under a kept-alive lease, and writes it again under a new lease when one is lost. */
class Keeper {
  private lease: Lease | undefined;
  private closing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private retry: Backoff;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly value: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    private readonly initialRetry: Backoff,
  ) {
    this.retry = initialRetry;
  }

  async register(): Promise<void> {
    const lease = this.client.lease(this.ttlSeconds);
    this.lease = lease;
    // A lease that cannot be granted also emits 'lost'; the await below reports it the first time.
    lease.on('lost', (error) => this.lost(lease, error));
    lease.on('keepaliveFailed', (error) =>
      this.logger.debug({ key: this.key, err: error }, 'ballast: etcd keep-alive failed'),
    );
    await lease.put(this.key).value(this.value).exec();
  }

  private lost(lease: Lease, error: unknown): void {
    if (this.closing !== undefined || this.lease !== lease) return;
    this.lease = undefined;
    this.logger.warn({ key: this.key, err: error }, 'ballast: etcd lease lost; registering again');
    this.again();
  }

  private again(): void {
    if (this.closing !== undefined || this.timer !== undefined) return;
    this.retry = this.retry.next();
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.register().then(
        () => {
          this.retry = this.initialRetry;
          this.logger.info({ key: this.key }, 'ballast: registered in etcd again');
        },
        (error: unknown) => {
          // The failed lease is dropped ('lost' may follow; it is ignored for a stale lease).
          const failed = this.lease;
          this.lease = undefined;
          void failed?.revoke().catch(() => {});
          this.logger.warn({ key: this.key, err: error }, 'ballast: etcd registration failed; retrying');
          this.again();
        },
      );
    }, this.retry.duration);
    this.timer.unref();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.timer !== undefined) clearTimeout(this.timer);
      const lease = this.lease;
      this.lease = undefined;
      try {
        // Revoking deletes the key at once; if etcd is away the lease runs out on its own.
        await lease?.revoke();
      } catch (error) {
        this.logger.warn(
          { key: this.key, err: error },
          'ballast: etcd deregistration failed; the lease will expire',
        );
      } finally {
        this.client.close();
      }
    })();
    return this.closing;
  }
}
