import { InvalidConfigError, type Logger } from '@ballast/core';
import { Etcd3, type IOptions } from 'etcd3';

/** Connection options shared by `etcdDiscovery` and `registerInstance`. */
export interface EtcdConnectionOptions {
  /** etcd client URL(s): `http://10.0.0.5:2379` or an array of them. */
  readonly hosts: string | readonly string[];
  /** Key prefix under which services live. Default `/ballast/services`. */
  readonly prefix?: string;
  /** Deadline of each etcd call (not of watches), in ms. Default 5 000. */
  readonly timeoutMs?: number;
  /** First delay before reconnecting a lost watch or retrying, in ms; doubles up to 10 s. Default 500. */
  readonly retryMs?: number;
  /** Further `etcd3` client options: TLS `credentials`, `auth`, `grpcOptions`. */
  readonly client?: Omit<IOptions, 'hosts'>;
  /** pino-compatible logger (for `registerInstance`; discovery logs through its balancer). Default silent. */
  readonly logger?: Logger;
}

/** Validated connection options, defaults filled in. */
export interface ConnectionConfig {
  readonly hosts: string[];
  readonly prefix: string;
  readonly service: string;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly maxRetryMs: number;
  readonly client: Omit<IOptions, 'hosts'>;
}

/** Option names every etcd entry point accepts (each adds its own). */
export const CONNECTION_KEYS = ['hosts', 'prefix', 'timeoutMs', 'retryMs', 'client', 'logger', 'service'];
const MAX_RETRY_MS = 10_000;
/** Time between keep-alive pings of an open stream, ms (etcd's minimum is 5 s). */
const KEEPALIVE_MS = 10_000;
/** Service names become one key segment. */
const SERVICE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Rejects keys that are not in `known`, naming the first unknown one. */
function checkKeys(options: unknown, known: readonly string[], what: string): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new InvalidConfigError(what, options, 'expected an options object');
  const raw = options as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!known.includes(key))
      throw new InvalidConfigError(key, raw[key], `unknown option; expected one of ${known.join(', ')}`);
  }
  return raw;
}

/** Checks `options` for unknown keys (`known`) and reads the connection part. */
export function readConnection(
  options: unknown,
  known: readonly string[],
  what: string,
): { raw: Record<string, unknown>; config: ConnectionConfig } {
  const raw = checkKeys(options, known, what);
  return { raw, config: parseConnection(raw) };
}

function parseConnection(raw: Record<string, unknown>): ConnectionConfig {
  const { hosts, prefix = '/ballast/services', service, timeoutMs = 5_000, retryMs = 500, client = {} } = raw;
  const list = typeof hosts === 'string' ? [hosts] : hosts;
  if (!Array.isArray(list) || list.length === 0)
    throw new InvalidConfigError('hosts', hosts, 'expected an etcd URL or a non-empty array of them');
  // Each as etcd3 takes it, `scheme://host:port`: it strips only a lowercase scheme and hands
  // the rest to gRPC as the target, so a trailing slash (or a path, credentials, an uppercase
  // scheme) could never connect. One scheme for all: etcd3 refuses a mix of TLS and plain.
  const urls = (list as unknown[]).map((host, i) => {
    const field = typeof hosts === 'string' ? 'hosts' : `hosts[${i}]`;
    let url: URL | undefined;
    try {
      url = typeof host === 'string' ? new URL(host) : undefined;
    } catch {
      url = undefined;
    }
    if (
      url === undefined ||
      !['http:', 'https:'].includes(url.protocol) ||
      !['', '/'].includes(url.pathname) ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    )
      throw new InvalidConfigError(field, host, 'expected an http(s) URL of a host and port, with no path');
    return url;
  });
  const mixed = urls.findIndex((url) => url.protocol !== urls[0]!.protocol);
  if (mixed > 0)
    throw new InvalidConfigError(
      `hosts[${mixed}]`,
      list[mixed],
      `expected the scheme of hosts[0] (${urls[0]!.protocol})`,
    );
  if (typeof service !== 'string' || !SERVICE.test(service))
    throw new InvalidConfigError('service', service, 'expected 1 to 128 letters, digits, ".", "_" or "-"');
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix.endsWith('/') || prefix.length > 512)
    throw new InvalidConfigError(
      'prefix',
      prefix,
      'expected a key prefix starting with "/" and not ending with one',
    );
  for (const [field, value] of [
    ['timeoutMs', timeoutMs],
    ['retryMs', retryMs],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 600_000)
      throw new InvalidConfigError(field, value, 'expected an integer from 1 to 600000');
  }
  if (typeof client !== 'object' || client === null || Array.isArray(client) || 'hosts' in client)
    throw new InvalidConfigError('client', client, 'expected etcd3 options without hosts');
  checkCredentials((client as { credentials?: unknown }).credentials);
  return {
    hosts: urls.map((url) => `${url.protocol}//${url.host}`),
    prefix,
    service,
    timeoutMs: timeoutMs as number,
    retryMs: retryMs as number,
    maxRetryMs: Math.max(retryMs as number, MAX_RETRY_MS),
    client: client as Omit<IOptions, 'hosts'>,
  };
}

/** TLS credentials as etcd3 (grpc-js) takes them: Buffers, or it throws a TypeError at connection. */
function checkCredentials(credentials: unknown): void {
  if (credentials === undefined) return;
  if (typeof credentials !== 'object' || credentials === null || Array.isArray(credentials))
    throw new InvalidConfigError(
      'client.credentials',
      credentials,
      'expected { rootCertificate, privateKey?, certChain? }',
    );
  const fields = credentials as Record<string, unknown>;
  for (const name of ['rootCertificate', 'privateKey', 'certChain']) {
    const value = fields[name];
    if (value !== undefined && !Buffer.isBuffer(value))
      throw new InvalidConfigError(`client.credentials.${name}`, value, 'expected a Buffer (PEM bytes)');
  }
  if (!Buffer.isBuffer(fields.rootCertificate))
    throw new InvalidConfigError(
      'client.credentials.rootCertificate',
      fields.rootCertificate,
      'expected a Buffer (PEM bytes)',
    );
}

/** The key directory of a service, with its trailing slash. */
export const serviceDir = (config: ConnectionConfig): string => `${config.prefix}/${config.service}/`;

/** A delay and the one after it, in the shape of the backoff etcd3's watch manager takes. */
export interface Backoff {
  readonly duration: number;
  next(): Backoff;
}

/** The retry schedule of a connection: from `retryMs`, doubling up to 10 s. */
export const retrySchedule = (config: ConnectionConfig): Backoff =>
  backoff(config.retryMs, config.maxRetryMs);

/**
 * Doubling delays: `backoff(500, 10_000).next()` lasts 500 ms, its `next()` 1 000 ms, and so on
 * up to `maxMs`. The first object is the unstarted state (etcd3 calls `next()` before waiting).
 */
export function backoff(initialMs: number, maxMs: number, duration = 0): Backoff {
  return {
    duration,
    next: () => backoff(initialMs, maxMs, duration === 0 ? initialMs : Math.min(duration * 2, maxMs)),
  };
}

type FaultHandling = NonNullable<IOptions['faultHandling']>;

/**
 * An etcd3 client for one subscription or registration. Its calls carry a deadline, a lost
 * watch reconnects after `retryMs` (doubling up to 10 s) rather than etcd3's default of up to 30 s,
 * and no per-host circuit breaker holds calls back for seconds after etcd returns: Ballast
 * retries on its own schedule.
 */
export function createClient(config: ConnectionConfig): Etcd3 {
  const passThrough = {
    execute: <T>(fn: (context: { signal: AbortSignal; attempt: number }) => Promise<T> | T) =>
      Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 0 })),
  } as unknown as ReturnType<NonNullable<FaultHandling['host']>>;
  return new Etcd3({
    dialTimeout: config.timeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + config.timeoutMs }),
    ...config.client,
    // Pings on open streams: an etcd that stops answering without closing the connection (a
    // partition, a frozen host) ends the watch and lease streams instead of leaving them, and
    // the client that close() tried to end, open for good. etcd refuses pings under 5 s apart.
    grpcOptions: {
      'grpc.keepalive_time_ms': KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': config.timeoutMs,
      // The directory is read in one answer: gRPC's default limit of 4 MiB (some 5 000
      // instances with metadata) left a large service without any list, for good.
      'grpc.max_receive_message_length': -1,
      ...config.client.grpcOptions,
    },
    hosts: config.hosts,
    faultHandling: {
      host: () => passThrough,
      // Short and constant: a lost watch is given up and re-created by its owner (EtcdWatch), so
      // etcd3's own retry only has to find no watcher left, soon after close().
      watchBackoff: backoff(
        Math.min(config.retryMs, 1_000),
        Math.min(config.retryMs, 1_000),
      ) as unknown as FaultHandling['watchBackoff'],
      ...config.client.faultHandling,
    },
  });
}
