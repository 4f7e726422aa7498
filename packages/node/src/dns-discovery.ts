/**
 * DNS discovery: the membership that Kubernetes headless services, Consul and plain zone files
 * publish, polled every `intervalMs`. SRV records (RFC 2782) give each instance's target, port,
 * weight and priority; A or AAAA records give addresses to which the configured port is added.
 * Each poll hands the balancer the complete list and it applies the difference, so instances that
 * stay keep their health. A failed lookup (timeout, SERVFAIL, NXDOMAIN, no records) is reported
 * as a discovery failure: the last good list keeps serving; DNS never empties a pool.
 */
import { isIP } from 'node:net';
import { promises as dns, type SrvRecord } from 'node:dns';
import { InvalidConfigError, type Discovery, type DiscoverySink, type InstanceConfig } from '@ballast/core';

/** The part of `node:dns`'s `promises.Resolver` that DNS discovery uses. */
export type DnsResolver = Pick<dns.Resolver, 'resolveSrv' | 'resolve4' | 'resolve6'>;

/** Options of `dnsDiscovery`. */
export interface DnsDiscoveryOptions {
  /** The name to look up: `_http._tcp.users.default.svc.cluster.local` for SRV, a host name for A/AAAA. */
  readonly name: string;
  /** Record type. Default `SRV`. */
  readonly type?: 'SRV' | 'A' | 'AAAA';
  /** Port of every instance, required for A and AAAA (SRV records carry their own). */
  readonly port?: number;
  /** URL scheme of the instances. Default `http`. */
  readonly protocol?: 'http' | 'https';
  /** Time between lookups, in ms. Default 5 000. */
  readonly intervalMs?: number;
  /**
   * A `node:dns` `promises.Resolver`, to ask your own servers (`resolver.setServers([...])`).
   * Default: a resolver of the system's servers, with a `timeoutMs` per try.
   */
  readonly resolver?: DnsResolver;
  /** Per-try timeout of the default resolver, in ms. Default 2 000. */
  readonly timeoutMs?: number;
  /**
   * SRV only: resolve each target to its addresses through the same resolver (default true), so
   * names that only your DNS server knows work and the proxy connects to what DNS said. With
   * `false` the URL keeps the target host name (for TLS with SNI), left to the system resolver.
   */
  readonly resolveTargets?: boolean;
}

const KEYS = ['name', 'type', 'port', 'protocol', 'intervalMs', 'resolver', 'timeoutMs', 'resolveTargets'];
const TYPES = ['SRV', 'A', 'AAAA'] as const;
/** A weight-0 SRV record (RFC 2782: "a very small chance of being selected") gets this weight. */
const ZERO_WEIGHT = 0.01;
/** Errors of an IPv4 lookup that mean "no IPv4 address", after which IPv6 is tried. */
const NO_ADDRESS = new Set(['ENODATA', 'ENOTFOUND']);
/** Longest timer Node accepts (about 24.8 days). */
const MAX_MS = 2_147_483_647;

interface DnsConfig {
  readonly name: string;
  readonly type: (typeof TYPES)[number];
  readonly port: number;
  readonly protocol: 'http' | 'https';
  readonly intervalMs: number;
  readonly resolver: DnsResolver | undefined;
  readonly timeoutMs: number;
  readonly resolveTargets: boolean;
}

/**
 * A discovery source that polls DNS. Give it to `createBalancer({ discovery })` (or an adapter's
 * `balancer({ discovery })`); the balancer starts it and `balancer.close()` stops it. Timers are
 * unref'd. Throws `InvalidConfigError` naming the option if one is invalid.
 *
 * @example
 * ```ts
 * const resolver = new dns.promises.Resolver();
 * resolver.setServers(['10.0.0.53']);
 * const balancer = createBalancer({
 *   service: 'users',
 *   discovery: dnsDiscovery({ name: '_http._tcp.users.internal', resolver, intervalMs: 10_000 }),
 * });
 * ```
 */
export function dnsDiscovery(options: DnsDiscoveryOptions): Discovery {
  const config = parseDnsOptions(options);
  const name = `dns:${config.type}:${config.name}`;
  return {
    name,
    subscribe(sink) {
      const own =
        config.resolver === undefined ? new dns.Resolver({ timeout: config.timeoutMs, tries: 2 }) : undefined;
      const resolver = own ?? config.resolver!;
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      // SRV targets' last addresses (a target that fails to resolve for a poll keeps them), and
      // the id each address of a target and port had, so that the ones that stay keep theirs.
      const known = new Map<string, string[]>();
      const ids = new Map<string, Map<string, string>>();
      const poll = async (): Promise<void> => {
        timer = undefined;
        try {
          const list = await lookup(config, resolver, sink, name, known, ids, () => stopped);
          if (!stopped) sink.update(list);
        } catch (error) {
          if (!stopped) sink.error(error);
        }
        if (stopped) return;
        timer = setTimeout(() => void poll(), config.intervalMs);
        timer.unref();
      };
      void poll();
      return () => {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
        // Our own resolver's pending queries end now; a user's resolver is theirs to manage.
        own?.cancel();
      };
    },
  };
}

async function lookup(
  config: DnsConfig,
  resolver: DnsResolver,
  sink: DiscoverySink,
  source: string,
  known: Map<string, string[]>,
  ids: Map<string, Map<string, string>>,
  stopped: () => boolean,
): Promise<InstanceConfig[]> {
  if (config.type === 'A' || config.type === 'AAAA') {
    const addresses =
      config.type === 'A' ? await resolver.resolve4(config.name) : await resolver.resolve6(config.name);
    if (addresses.length === 0) throw noRecords(config);
    return addresses.map((address) => instance(config, address, config.port, 1, 0));
  }
  const answer = await resolver.resolveSrv(config.name);
  if (answer.length === 0) throw noRecords(config);
  const records = serverRecords(answer);
  // RFC 2782: a lone record with target "." says the service is decidedly not available here.
  // Failed, not empty: the last good list keeps serving.
  if (records.length === 0)
    throw Object.assign(new Error(`${config.name}: service not available (SRV target ".")`), {
      code: 'ENOSERVICE',
    });
  // Closed while the answer was on its way (a resolver of the user's, which stop() cannot
  // cancel): no lookups of targets, no warnings.
  if (stopped()) return [];
  if (!config.resolveTargets) {
    return records.map((r) => ({
      ...instance(config, r.name, r.port, r.weight, r.priority),
      metadata: { target: r.name },
    }));
  }
  const targets = [...new Set(records.map((r) => r.name))];
  const addresses = new Map<string, string[]>();
  let lastError: unknown;
  let resolved = 0;
  await Promise.all(
    targets.map(async (target) => {
      try {
        addresses.set(target, await resolveHost(resolver, target));
        resolved += 1;
      } catch (error) {
        lastError = error;
        // A target that resolved before keeps its last addresses through a failed lookup (a
        // timeout, a server restarting), so its instances keep what they learned; one never
        // resolved is skipped until it does.
        const last = known.get(target);
        if (last !== undefined) addresses.set(target, last);
        if (stopped()) return;
        sink.logger.warn(
          { service: sink.service, source, target, err: error },
          last === undefined
            ? 'ballast: SRV target did not resolve; skipped'
            : 'ballast: SRV target did not resolve; kept its last addresses',
        );
      }
    }),
  );
  // Not one target resolved: that is a failed lookup, not an empty service.
  if (resolved === 0) throw lastError;
  known.clear();
  for (const [target, found] of addresses) known.set(target, found);
  const list: InstanceConfig[] = [];
  const assigned = new Map<string, Map<string, string>>();
  for (const r of records) {
    const found = addresses.get(r.name);
    if (found === undefined) continue;
    const key = `${r.name}:${r.port}`;
    const byAddress = assignIds(key, found, ids.get(key));
    assigned.set(key, byAddress);
    // The record's weight is the target's, shared by its addresses (RFC 2782 weighs servers, and
    // a target with three addresses is one server, not three).
    const weight = (r.weight > 0 ? r.weight : ZERO_WEIGHT) / found.length;
    for (const address of found) {
      const one = instance(config, address, r.port, weight, r.priority);
      list.push({ ...one, id: byAddress.get(address)!, metadata: { target: r.name } });
    }
  }
  ids.clear();
  for (const [key, byAddress] of assigned) ids.set(key, byAddress);
  return list;
}

/**
 * One record per server (target and port), in answer order: the lowest priority a server is
 * listed at, with its highest weight there (RFC 2782: a client tries a server at the lowest
 * priority that lists it). Servers at one port may well be listed at two priorities; answer
 * order, which servers rotate, must not decide. Records whose target is "." (no service) go.
 */
function serverRecords(records: readonly SrvRecord[]): SrvRecord[] {
  const servers = new Map<string, SrvRecord>();
  for (const r of records) {
    // c-ares reports the root target "." as an empty name.
    if (r.name === '' || r.name === '.') continue;
    const key = `${r.name}:${r.port}`;
    const seen = servers.get(key);
    if (
      seen === undefined ||
      r.priority < seen.priority ||
      (r.priority === seen.priority && r.weight > seen.weight)
    )
      servers.set(key, r);
  }
  return [...servers.values()];
}

/**
 * The ids of the addresses behind one SRV target and port (`key`). A lone address is `key`, so
 * the instance stays while its address changes; several are `key/address` each. An address that
 * was there at the last poll keeps the id it had, so a second address joining, or one of two
 * leaving, does not replace the instance that stays.
 */
function assignIds(
  key: string,
  found: readonly string[],
  previous: ReadonlyMap<string, string> | undefined,
): Map<string, string> {
  const byAddress = new Map<string, string>();
  const taken = new Set<string>();
  for (const address of found) {
    const id = previous?.get(address);
    if (id !== undefined && !taken.has(id)) {
      byAddress.set(address, id);
      taken.add(id);
    }
  }
  for (const address of found) {
    if (byAddress.has(address)) continue;
    const id = found.length === 1 && !taken.has(key) ? key : `${key}/${address}`;
    byAddress.set(address, id);
    taken.add(id);
  }
  return byAddress;
}

/**
 * An answer without records. `node:dns` fails such a lookup with ENODATA itself, but another
 * resolver may answer an empty list, which the balancer would apply by removing every instance.
 */
function noRecords(config: DnsConfig): Error {
  return Object.assign(new Error(`no ${config.type} records for ${config.name}`), { code: 'ENODATA' });
}

/**
 * The addresses of an SRV target: IPv4, else IPv6. No address at all is a failed lookup (as
 * `node:dns` reports it, ENODATA), never an empty list: the target keeps its last addresses.
 */
async function resolveHost(resolver: DnsResolver, host: string): Promise<string[]> {
  if (isIP(host) !== 0) return [host];
  let v4: string[] | undefined;
  let failure: unknown;
  try {
    v4 = await resolver.resolve4(host);
    if (v4.length > 0) return v4;
  } catch (error) {
    // Only a host with no IPv4 address is looked up for IPv6. A failed IPv4 lookup (a timeout,
    // SERVFAIL) of a dual-stack target gave its IPv6 address: a new URL under the same id, and
    // the instance was replaced, losing what it had learned.
    if (!NO_ADDRESS.has((error as { code?: unknown }).code as string)) throw error;
    failure = error;
  }
  try {
    const v6 = await resolver.resolve6(host);
    if (v6.length > 0) return v6;
  } catch {
    // The IPv4 failure, if there was one, says more.
  }
  throw failure ?? Object.assign(new Error(`no A or AAAA records for ${host}`), { code: 'ENODATA' });
}

function instance(
  config: DnsConfig,
  host: string,
  port: number,
  weight: number,
  priority: number,
): InstanceConfig {
  const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  return {
    id: authority,
    url: `${config.protocol}://${authority}`,
    weight: weight > 0 ? weight : ZERO_WEIGHT,
    priority,
  };
}

function parseDnsOptions(options: DnsDiscoveryOptions): DnsConfig {
  if (typeof options !== 'object' || options === null || Array.isArray(options))
    throw new InvalidConfigError('dnsDiscovery', options, 'expected an options object');
  const raw = options as unknown as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!KEYS.includes(key))
      throw new InvalidConfigError(key, raw[key], `unknown option; expected one of ${KEYS.join(', ')}`);
  }
  const { name, type = 'SRV', port, protocol = 'http', intervalMs = 5_000, timeoutMs = 2_000 } = options;
  const { resolver, resolveTargets = true } = options;
  if (!isDnsName(name))
    throw new InvalidConfigError(
      'name',
      name,
      'expected a DNS name: labels of 1 to 63 characters, 253 in all',
    );
  if (!(TYPES as readonly unknown[]).includes(type))
    throw new InvalidConfigError('type', type, `expected one of ${TYPES.join(', ')}`);
  if (type === 'SRV' && port !== undefined)
    throw new InvalidConfigError('port', port, 'SRV records carry the port; set port only for A or AAAA');
  if (type !== 'SRV' && (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65_535))
    throw new InvalidConfigError('port', port, `expected an integer from 1 to 65535 (required for ${type})`);
  if (protocol !== 'http' && protocol !== 'https')
    throw new InvalidConfigError('protocol', protocol, "expected 'http' or 'https'");
  for (const [field, value] of [
    ['intervalMs', intervalMs],
    ['timeoutMs', timeoutMs],
  ] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 10 || value > MAX_MS)
      throw new InvalidConfigError(field, value, `expected an integer from 10 to ${MAX_MS}`);
  }
  if (typeof resolveTargets !== 'boolean')
    throw new InvalidConfigError('resolveTargets', resolveTargets, 'expected true or false');
  if (resolver !== undefined) {
    const needed =
      type === 'SRV' ? ['resolveSrv', 'resolve4', 'resolve6'] : [type === 'A' ? 'resolve4' : 'resolve6'];
    for (const method of needed) {
      if (typeof (resolver as unknown as Record<string, unknown> | null)?.[method] !== 'function')
        throw new InvalidConfigError(`resolver.${method}`, resolver, 'expected a node:dns promises.Resolver');
    }
  }
  return { name, type, port: port ?? 0, protocol, intervalMs, resolver, timeoutMs, resolveTargets };
}

/** Whether `name` is a DNS name c-ares can ask for: labels of 1 to 63, 253 in all, one final dot allowed. */
function isDnsName(name: unknown): name is string {
  if (typeof name !== 'string') return false;
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  return (
    bare.length > 0 &&
    bare.length <= 253 &&
    bare.split('.').every((label) => label.length > 0 && label.length <= 63)
  );
}
