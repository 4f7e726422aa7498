import http from 'node:http';
import { promises as dns } from 'node:dns';
import type { AddressInfo } from 'node:net';

import { createBalancer, InvalidConfigError, type Balancer, type BalancerEvents } from '@ballast/core';
import { activeHandles, expectNoHandlesBeyond, startDnsmasq, type Dnsmasq } from '@ballast/testing';

import { dnsDiscovery, type DnsDiscoveryOptions, type DnsResolver } from '../src';
import { cleanup, gateway, named, send, until, type TestServer } from './helpers';

// A real DNS server (dnsmasq, Debian package dnsmasq-base) on a free loopback port, serving
// only the records each test gives it; the records change while the balancers run.
let dnsmasq: Dnsmasq;
let resolver: dns.Resolver;

beforeAll(async () => {
  dnsmasq = await startDnsmasq({});
  resolver = new dns.Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([dnsmasq.server]);
}, 30_000);

afterAll(async () => {
  resolver?.cancel();
  await dnsmasq?.close();
});

afterEach(cleanup);

const INTERVAL_MS = 100;
const ids = (balancer: Balancer) =>
  balancer
    .instances()
    .map((i) => i.id)
    .sort();

/** Three upstreams answering their name, reachable as a/b/c.svc.test through the DNS server. */
async function upstreams(...names: string[]): Promise<Record<string, TestServer>> {
  const servers: Record<string, TestServer> = {};
  for (const name of names) servers[name] = await named(name);
  return servers;
}

const hostsOf = (names: string[]) =>
  Object.fromEntries(names.map((name) => [`${name}.svc.test`, ['127.0.0.1']] as const));

describe('dnsDiscovery with SRV records from a real DNS server', () => {
  it('follows record changes: targets, ports, weights and priorities, keeping what staying instances learned', async () => {
    const up = await upstreams('a', 'b', 'c', 'd');
    const srv = (name: string, priority: number, weight: number) => ({
      name: '_http._tcp.api.test',
      target: `${name}.svc.test`,
      port: up[name]!.port,
      priority,
      weight,
    });
    await dnsmasq.setRecords({
      hosts: hostsOf(['a', 'b', 'c', 'd']),
      srv: [srv('a', 0, 10), srv('b', 0, 30), srv('c', 1, 5)],
    });
    const { url, proxy } = await gateway(
      {
        service: 'api',
        strategy: 'round-robin',
        discovery: dnsDiscovery({ name: '_http._tcp.api.test', resolver, intervalMs: INTERVAL_MS }),
      },
      { healthCheck: false, retries: 0 },
    );
    const balancer = proxy.balancer;
    await until(() => balancer.instances().length === 3, 5_000, 'the first SRV list');
    const a = balancer.get(`a.svc.test:${up.a!.port}`)!;
    expect(a).toMatchObject({ url: `http://127.0.0.1:${up.a!.port}/`, weight: 10, priority: 0 });
    expect(a.metadata).toEqual({ target: 'a.svc.test' });
    expect(balancer.get(`b.svc.test:${up.b!.port}`)).toMatchObject({ weight: 30, priority: 0 });
    expect(balancer.get(`c.svc.test:${up.c!.port}`)).toMatchObject({ weight: 5, priority: 1 });

    // Priority 1 stands by while priority 0 has a healthy instance.
    const first = await Promise.all(Array.from({ length: 12 }, () => send(url)));
    expect(new Set(first.map((r) => r.text))).toEqual(new Set(['a', 'b']));
    const learned = a.requests;
    expect(learned).toBeGreaterThan(0);

    // b leaves, d joins at priority 0, a's weight changes.
    await dnsmasq.setRecords({
      hosts: hostsOf(['a', 'b', 'c', 'd']),
      srv: [srv('a', 0, 20), srv('c', 1, 5), srv('d', 0, 10)],
    });
    await until(() => balancer.get(`d.svc.test:${up.d!.port}`) !== undefined, 5_000, 'd to join');
    expect(ids(balancer)).toEqual(
      [`a.svc.test:${up.a!.port}`, `c.svc.test:${up.c!.port}`, `d.svc.test:${up.d!.port}`].sort(),
    );
    expect(balancer.get(`a.svc.test:${up.a!.port}`)).toBe(a);
    expect(a.requests).toBe(learned);
    expect(a.weight).toBe(20);
    expect(balancer.get(`d.svc.test:${up.d!.port}`)!.state).toBe('slow-start');

    // Priority 0 out of service: priority 1 takes the traffic, until a comes back.
    balancer.reportCheck(a.id, false);
    balancer.reportCheck(`d.svc.test:${up.d!.port}`, false);
    const failover = await Promise.all(Array.from({ length: 6 }, () => send(url)));
    expect(failover.map((r) => r.text)).toEqual(Array(6).fill('c'));
    balancer.reportCheck(a.id, true);
    const back = await Promise.all(Array.from({ length: 6 }, () => send(url)));
    expect(back.map((r) => r.text)).toEqual(Array(6).fill('a'));
  }, 20_000);

  it('keeps the last good list while the DNS server is down, and shows it in the snapshot', async () => {
    const up = await upstreams('a');
    await dnsmasq.setRecords({
      hosts: hostsOf(['a']),
      srv: [{ name: '_http._tcp.down.test', target: 'a.svc.test', port: up.a!.port }],
    });
    const { url, proxy } = await gateway(
      { discovery: dnsDiscovery({ name: '_http._tcp.down.test', resolver, intervalMs: INTERVAL_MS }) },
      { healthCheck: false },
    );
    const balancer = proxy.balancer;
    const errors: BalancerEvents['discovery-error'][] = [];
    balancer.on('discovery-error', (e) => errors.push(e));
    await until(() => balancer.instances().length === 1, 5_000, 'the first list');
    // An SRV weight of 0 (RFC 2782: "a very small chance") still makes a valid instance.
    expect(balancer.instances()[0]!.weight).toBe(0.01);

    await dnsmasq.stop();
    try {
      await until(() => errors.length >= 2, 5_000, 'lookups to fail');
      expect(errors[0]).toMatchObject({ source: 'dns:SRV:_http._tcp.down.test', kept: 1 });
      expect(balancer.snapshot().discovery).toMatchObject({ state: 'failing', instances: 1 });
      expect(balancer.snapshot().discovery!.lastError).toMatch(/ECONNREFUSED|ETIMEOUT|timeout/i);
      expect((await send(url)).text).toBe('a');
    } finally {
      await dnsmasq.start();
    }
    await until(() => balancer.snapshot().discovery!.state === 'ok', 5_000, 'discovery to recover');
    expect(balancer.snapshot().discovery!.failures).toBe(0);
    expect(ids(balancer)).toEqual([`a.svc.test:${up.a!.port}`]);
  }, 20_000);

  it('a name that does not exist leaves the pool empty and pending: requests get 503 at once', async () => {
    await dnsmasq.setRecords({});
    const { url, proxy } = await gateway(
      { discovery: dnsDiscovery({ name: '_http._tcp.nowhere.test', resolver, intervalMs: INTERVAL_MS }) },
      { healthCheck: false },
    );
    await until(() => proxy.balancer.snapshot().discovery!.errors >= 1, 5_000, 'the lookup to fail');
    expect(proxy.balancer.snapshot().discovery).toMatchObject({ state: 'failing', instances: 0 });
    expect((await send(url)).status).toBe(503);
  });

  it('skips an SRV target that does not resolve, with a warning, and keeps the others', async () => {
    const up = await upstreams('a');
    await dnsmasq.setRecords({
      hosts: hostsOf(['a']),
      srv: [
        { name: '_http._tcp.half.test', target: 'a.svc.test', port: up.a!.port },
        { name: '_http._tcp.half.test', target: 'ghost.svc.test', port: 9 },
      ],
    });
    const warnings: Record<string, unknown>[] = [];
    const logger = {
      debug() {},
      info() {},
      error() {},
      warn: (obj: object) => void warnings.push(obj as never),
    };
    const balancer = createBalancer({
      logger,
      discovery: dnsDiscovery({ name: '_http._tcp.half.test', resolver, intervalMs: 5_000 }),
    });
    try {
      await until(() => balancer.instances().length === 1, 5_000, 'the list');
      expect(warnings[0]).toMatchObject({ target: 'ghost.svc.test' });
    } finally {
      balancer.close();
    }
  });
  it('keeps an instance when a second address joins its target, and when the other leaves again', async () => {
    // The id of a target's only address is `target:port`, of several `target:port/address`: the
    // instance behind the first address used to be replaced when a second one appeared.
    const up = await upstreams('a');
    const port = up.a!.port;
    const records = (addresses: string[]) =>
      dnsmasq.setRecords({
        hosts: { 'a.svc.test': addresses },
        srv: [{ name: '_http._tcp.grow.test', target: 'a.svc.test', port }],
      });
    await records(['127.0.0.1']);
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: '_http._tcp.grow.test', resolver, intervalMs: 20 }),
    });
    const removed: string[] = [];
    balancer.on('instance-removed', (e) => removed.push(e.instance.id));
    try {
      await until(() => balancer.instances().length === 1, 5_000, 'the first list');
      const first = balancer.instances()[0]!;
      expect(first.id).toBe(`a.svc.test:${port}`);
      await records(['127.0.0.1', '127.0.0.2']);
      await until(() => balancer.instances().length === 2, 5_000, 'the second address');
      expect(balancer.get(`a.svc.test:${port}`)).toBe(first);
      expect(balancer.get(`a.svc.test:${port}/127.0.0.2`)).toBeDefined();
      await records(['127.0.0.1']);
      await until(() => balancer.instances().length === 1, 5_000, 'the second address to leave');
      expect(balancer.instances()[0]).toBe(first);
      expect(removed).toEqual([`a.svc.test:${port}/127.0.0.2`]);
    } finally {
      balancer.close();
    }
  });

  it('keeps the last addresses of a target that fails to resolve for a while, and what it learned', async () => {
    const up = await upstreams('a', 'b');
    await dnsmasq.setRecords({
      hosts: hostsOf(['a', 'b']),
      srv: ['a', 'b'].map((name) => ({
        name: '_http._tcp.blip.test',
        target: `${name}.svc.test`,
        port: up[name]!.port,
      })),
    });
    let failB = false;
    let failedLookups = 0;
    const flaky: DnsResolver = {
      resolveSrv: resolver.resolveSrv.bind(resolver),
      resolve6: resolver.resolve6.bind(resolver),
      resolve4: ((name: string) => {
        if (failB && name === 'b.svc.test') {
          failedLookups += 1;
          return Promise.reject(Object.assign(new Error('queryA ETIMEOUT b.svc.test'), { code: 'ETIMEOUT' }));
        }
        return resolver.resolve4(name);
      }) as unknown as DnsResolver['resolve4'],
    };
    const balancer = createBalancer({
      strategy: 'round-robin',
      discovery: dnsDiscovery({ name: '_http._tcp.blip.test', resolver: flaky, intervalMs: 20 }),
    });
    const removed: string[] = [];
    balancer.on('instance-removed', (e) => removed.push(e.instance.id));
    try {
      await until(() => balancer.instances().length === 2, 5_000, 'the first list');
      const b = balancer.get(`b.svc.test:${up.b!.port}`)!;
      balancer.pick({ exclude: [`a.svc.test:${up.a!.port}`] }).release({ ok: true, latencyMs: 7 });
      failB = true;
      await until(() => failedLookups >= 3, 5_000, 'three failed lookups of b');
      failB = false;
      expect(removed).toEqual([]);
      expect(balancer.get(`b.svc.test:${up.b!.port}`)).toBe(b);
      expect(b.requests).toBe(1);
    } finally {
      balancer.close();
    }
  });
});

describe('dnsDiscovery with A records', () => {
  it('gives each address the configured port, and follows the hosts file on SIGHUP', async () => {
    // Two upstreams on one port at two loopback addresses, as A records describe a service.
    const servers: http.Server[] = [];
    const serve = async (host: string, port: number) => {
      const server = http.createServer((req, res) => res.end(host));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      servers.push(server);
      return (server.address() as AddressInfo).port;
    };
    const port = await serve('127.0.0.2', 0);
    await serve('127.0.0.3', port);
    try {
      await dnsmasq.setRecords({ hosts: { 'web.test': ['127.0.0.2'] } });
      const { url, proxy } = await gateway(
        {
          strategy: 'round-robin',
          discovery: dnsDiscovery({ name: 'web.test', type: 'A', port, resolver, intervalMs: INTERVAL_MS }),
        },
        { healthCheck: false },
      );
      const balancer = proxy.balancer;
      await until(() => balancer.instances().length === 1, 5_000, 'the first A list');
      expect(balancer.instances()[0]).toMatchObject({
        id: `127.0.0.2:${port}`,
        url: `http://127.0.0.2:${port}/`,
      });

      await dnsmasq.setRecords({ hosts: { 'web.test': ['127.0.0.2', '127.0.0.3'] } });
      await until(() => balancer.instances().length === 2, 5_000, 'the second address');
      const both = await Promise.all(Array.from({ length: 6 }, () => send(url)));
      expect(new Set(both.map((r) => r.text))).toEqual(new Set(['127.0.0.2', '127.0.0.3']));

      await dnsmasq.setRecords({ hosts: { 'web.test': ['127.0.0.3'] } });
      await until(() => balancer.instances().length === 1, 5_000, 'the first address to leave');
      const after = await Promise.all(Array.from({ length: 4 }, () => send(url)));
      expect(after.map((r) => r.text)).toEqual(Array(4).fill('127.0.0.3'));
    } finally {
      await cleanup();
      await Promise.all(
        servers.map(
          (s) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve()))),
        ),
      );
    }
  }, 20_000);
});

describe('dnsDiscovery lifecycle and options', () => {
  it('stops polling when the balancer closes and leaves no handle behind', async () => {
    await dnsmasq.setRecords({ hosts: { 'web.test': ['127.0.0.1'] } });
    const baseline = activeHandles();
    let lookups = 0;
    const counting: DnsResolver = {
      resolveSrv: resolver.resolveSrv.bind(resolver),
      resolve6: resolver.resolve6.bind(resolver),
      resolve4: ((name: string) => {
        lookups += 1;
        return resolver.resolve4(name);
      }) as unknown as DnsResolver['resolve4'],
    };
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: 'web.test', type: 'A', port: 80, resolver: counting, intervalMs: 20 }),
    });
    await until(() => lookups >= 3, 5_000, 'three lookups');
    balancer.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const after = lookups;
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(lookups).toBe(after);
    await expectNoHandlesBeyond(baseline);
  });

  it('its own default resolver is cancelled on close', async () => {
    const baseline = activeHandles();
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: 'web.invalid', type: 'A', port: 80, intervalMs: 60_000 }),
    });
    balancer.close();
    await expectNoHandlesBeyond(baseline);
  });

  it.each<[Partial<DnsDiscoveryOptions> & Record<string, unknown>, string]>([
    [{ name: '' }, 'name'],
    [{ name: 'x.test', type: 'MX' as never }, 'type'],
    [{ name: 'x.test', type: 'A' }, 'port'],
    [{ name: 'x.test', type: 'A', port: 70_000 }, 'port'],
    [{ name: 'x.test', port: 80 }, 'port'],
    [{ name: 'x.test', protocol: 'ftp' as never }, 'protocol'],
    [{ name: 'x.test', intervalMs: 0 }, 'intervalMs'],
    [{ name: 'x.test', intervalMs: Number.NaN }, 'intervalMs'],
    [{ name: 'x.test', timeoutMs: Infinity }, 'timeoutMs'],
    [{ name: 'x.test', resolver: {} as never }, 'resolver.resolveSrv'],
    [{ name: 'x.test', resolveTargets: 'yes' as never }, 'resolveTargets'],
    [{ name: 'x.test', ttl: 5 }, 'ttl'],
  ])('rejects %p naming %s', (options, field) => {
    expect(() => dnsDiscovery(options as DnsDiscoveryOptions)).toThrow(
      expect.objectContaining({ field }) as InvalidConfigError,
    );
  });
});

describe('dnsDiscovery with a scripted resolver', () => {
  it.each([
    ['an empty A answer', 'A', { type: 'A', port: 8080 }],
    // SRV targets kept as names: nothing but the empty answer stands between it and the pool.
    ['an empty SRV answer', 'SRV', { resolveTargets: false }],
    ['an SRV target resolving to an empty list', 'A', {}],
  ] as const)('keeps the last good list on %s, as on ENODATA', async (_case, emptied, options) => {
    let empty = false;
    let lookups = 0;
    const answer = <T>(type: string, records: T[]): Promise<T[]> => {
      if (type !== emptied) return Promise.resolve(records);
      lookups += 1;
      return Promise.resolve(empty ? [] : records);
    };
    // Only what the lookups call, in node:dns's shapes (its overloads are more than a stub needs).
    const resolver = {
      resolve4: () => answer('A', ['127.0.0.1']),
      resolve6: () => Promise.resolve([]),
      resolveSrv: () => answer('SRV', [{ name: '127.0.0.1', port: 8080, priority: 0, weight: 1 }]),
    } as unknown as DnsResolver;
    // A name, not an address, so that an SRV target is looked up.
    if (emptied === 'A' && !('type' in options))
      resolver.resolveSrv = () =>
        Promise.resolve([{ name: 'a.svc.test', port: 8080, priority: 0, weight: 1 }]) as never;
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: 'users.test', ...options, resolver, intervalMs: 10 }),
    });
    try {
      await until(() => balancer.instances().length === 1, 2_000, 'the first list');
      empty = true;
      const after = lookups;
      await until(() => lookups >= after + 3, 2_000, 'empty answers');
      expect(balancer.instances().map((i) => i.url)).toEqual(['http://127.0.0.1:8080/']);
      expect(balancer.snapshot().discovery).toMatchObject({ state: 'failing' });
    } finally {
      balancer.close();
    }
  });

  it("shares an SRV record's weight among its target's addresses (RFC 2782 weighs targets)", async () => {
    const resolver = {
      resolveSrv: () =>
        Promise.resolve([
          { name: 'a.svc.test', port: 8080, priority: 0, weight: 10 },
          { name: 'b.svc.test', port: 8080, priority: 0, weight: 10 },
          { name: 'c.svc.test', port: 8080, priority: 0, weight: 0 },
        ]),
      resolve4: (host: string) =>
        Promise.resolve(
          host === 'a.svc.test'
            ? ['127.0.0.1', '127.0.0.2', '127.0.0.3']
            : host === 'b.svc.test'
              ? ['127.0.0.4']
              : ['127.0.0.5', '127.0.0.6'],
        ),
      resolve6: () => Promise.reject(new Error('no AAAA')),
    } as unknown as DnsResolver;
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: '_http._tcp.users.test', resolver, intervalMs: 10_000 }),
    });
    try {
      await until(() => balancer.instances().length === 6, 2_000, 'the list');
      const share = (target: string) =>
        balancer
          .instances()
          .filter((i) => i.metadata.target === target)
          .map((i) => i.weight);
      expect(share('a.svc.test')).toEqual([10 / 3, 10 / 3, 10 / 3]);
      expect(share('b.svc.test')).toEqual([10]);
      // Weight 0, RFC 2782's "very small chance", shared too.
      expect(share('c.svc.test')).toEqual([0.005, 0.005]);
    } finally {
      balancer.close();
    }
  });
});
