// DNS discovery beyond dns-discovery.test.ts: SRV record sets as RFC 2782 reads them (one
// server listed twice, target ".", weight 0, hundreds of records in rotating order), dual-stack
// and IPv6-only targets, long names, an answer after close(), and name validation.
import { promises as dns } from 'node:dns';

import { createBalancer, InvalidConfigError, type BalancerEvents } from '@ballast/core';
import { activeHandles, expectNoHandlesBeyond, startDnsmasq, type Dnsmasq } from '@ballast/testing';

import { dnsDiscovery, type DnsDiscoveryOptions, type DnsResolver } from '../src';
import { until } from './helpers';

let dnsmasq: Dnsmasq;
let resolver: dns.Resolver;

beforeAll(async () => {
  dnsmasq = await startDnsmasq({});
  resolver = new dns.Resolver({ timeout: 2_000, tries: 2 });
  resolver.setServers([dnsmasq.server]);
}, 30_000);

afterAll(async () => {
  resolver?.cancel();
  await dnsmasq?.close();
});

const quiet = () => {
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  return {
    warnings,
    logger: {
      debug() {},
      info() {},
      error() {},
      warn: (obj: object, msg?: string) => void warnings.push({ obj: obj as never, msg: msg ?? '' }),
    },
  };
};

describe('SRV record sets', () => {
  it('two SRV records for one target:port with priorities 0 and 1 give one instance at priority 0, stable across polls', async () => {
    // dnsmasq answers both and rotates their order between answers.
    await dnsmasq.setRecords({
      hosts: { 'a.svc.test': ['127.0.0.1'] },
      srv: [
        { name: '_http._tcp.dup.test', target: 'a.svc.test', port: 8080, priority: 0, weight: 5 },
        { name: '_http._tcp.dup.test', target: 'a.svc.test', port: 8080, priority: 1, weight: 5 },
      ],
    });
    const { logger, warnings } = quiet();
    const updates: BalancerEvents['discovery-update'][] = [];
    const balancer = createBalancer({
      logger,
      discovery: dnsDiscovery({ name: '_http._tcp.dup.test', resolver, intervalMs: 20 }),
    });
    const priorities: number[] = [];
    balancer.on('discovery-update', (e) => {
      updates.push(e);
      priorities.push(balancer.get('a.svc.test:8080')!.priority);
    });
    try {
      await until(() => updates.length >= 6, 5_000, 'six polls');
      expect(priorities).toEqual(Array(priorities.length).fill(0));
      // RFC 2782: the client must try the lowest-numbered priority it can reach; the target is
      // reachable at priority 0, so it belongs in tier 0, whatever order the answer lists them in.
      expect(balancer.get('a.svc.test:8080')!.priority).toBe(0);
      expect(updates.slice(1).map((u) => u.updated)).toEqual(Array(updates.length - 1).fill(0));
      expect(balancer.snapshot().discovery!.skipped).toBe(0);
      expect(warnings.map((w) => w.msg)).not.toContain('ballast: discovered instance skipped');
    } finally {
      balancer.close();
    }
  });

  it('a dual-stack target whose A lookup times out keeps its IPv4 instance and what it learned', async () => {
    await dnsmasq.setRecords({
      hosts: { 'a.svc.test': ['127.0.0.1', '::1'] },
      srv: [{ name: '_http._tcp.dual.test', target: 'a.svc.test', port: 8080, weight: 1 }],
    });
    let failA = false;
    let failed = 0;
    const flaky: DnsResolver = {
      resolveSrv: resolver.resolveSrv.bind(resolver),
      resolve6: resolver.resolve6.bind(resolver),
      resolve4: ((name: string) => {
        if (failA) {
          failed += 1;
          return Promise.reject(Object.assign(new Error(`queryA ETIMEOUT ${name}`), { code: 'ETIMEOUT' }));
        }
        return resolver.resolve4(name);
      }) as unknown as DnsResolver['resolve4'],
    };
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: '_http._tcp.dual.test', resolver: flaky, intervalMs: 20 }),
    });
    const removed: string[] = [];
    balancer.on('instance-removed', (e) => removed.push(e.instance.url));
    try {
      await until(() => balancer.instances().length === 1, 5_000, 'the first list');
      const a = balancer.get('a.svc.test:8080')!;
      expect(a.url).toBe('http://127.0.0.1:8080/');
      balancer.pick().release({ ok: true, latencyMs: 5 });
      failA = true;
      await until(() => failed >= 3, 5_000, 'three timed-out A lookups');
      // A timeout is a failed lookup: the target keeps its last addresses (README, source comment).
      expect(balancer.get('a.svc.test:8080')!.url).toBe('http://127.0.0.1:8080/');
      expect(balancer.get('a.svc.test:8080')).toBe(a);
      expect(removed).toEqual([]);
    } finally {
      balancer.close();
    }
  });

  it('a valid 250-character SRV target name with two addresses still gives its instances', async () => {
    const label = (c: string) => c.repeat(63);
    // 250 characters, a legal name (RFC 1035: labels <= 63, name <= 253); with two addresses the
    // id `target:port/address` is 265 characters.
    const target = `${label('a')}.${label('b')}.${label('c')}.${'d'.repeat(49)}.svc.test`;
    expect(target.length).toBe(250);
    const scripted = {
      resolveSrv: () => Promise.resolve([{ name: target, port: 8080, priority: 0, weight: 1 }]),
      resolve4: () => Promise.resolve(['127.0.0.1', '127.0.0.2']),
      resolve6: () => Promise.reject(new Error('no AAAA')),
    } as unknown as DnsResolver;
    const { logger, warnings } = quiet();
    const balancer = createBalancer({
      logger,
      discovery: dnsDiscovery({ name: '_http._tcp.long.test', resolver: scripted, intervalMs: 10_000 }),
    });
    try {
      await until(
        () => balancer.snapshot().discovery!.updates + balancer.snapshot().discovery!.errors >= 1,
        2_000,
        'the first lookup',
      );
      expect(balancer.snapshot().discovery).toMatchObject({ state: 'ok', skipped: 0 });
      expect(
        balancer
          .instances()
          .map((i) => i.url)
          .sort(),
      ).toEqual(['http://127.0.0.1:8080/', 'http://127.0.0.2:8080/']);
    } finally {
      balancer.close();
    }
    expect(warnings).toEqual([]);
  });

  it('resolveTargets: false still gives SRV instances metadata { target } (README)', async () => {
    await dnsmasq.setRecords({
      srv: [{ name: '_http._tcp.names.test', target: 'a.svc.test', port: 8080, weight: 3 }],
    });
    const balancer = createBalancer({
      discovery: dnsDiscovery({
        name: '_http._tcp.names.test',
        resolver,
        intervalMs: 10_000,
        resolveTargets: false,
      }),
    });
    try {
      await until(() => balancer.instances().length === 1, 5_000, 'the list');
      expect(balancer.instances()[0]).toMatchObject({
        id: 'a.svc.test:8080',
        url: 'http://a.svc.test:8080/',
        weight: 3,
      });
      expect(balancer.instances()[0]!.metadata).toEqual({ target: 'a.svc.test' });
    } finally {
      balancer.close();
    }
  });

  it.each([true, false])(
    'an SRV target "." (service decidedly not available, RFC 2782) is not looked up or turned into a URL (resolveTargets %p)',
    async (resolveTargets) => {
      await dnsmasq.setRecords({
        srv: [{ name: '_http._tcp.gone.test', target: '.', port: 80 }],
      });
      const asked: string[] = [];
      const spying: DnsResolver = {
        resolveSrv: resolver.resolveSrv.bind(resolver),
        resolve4: ((name: string) => (asked.push(name), resolver.resolve4(name))) as never,
        resolve6: ((name: string) => (asked.push(name), resolver.resolve6(name))) as never,
      };
      const { logger, warnings } = quiet();
      const balancer = createBalancer({
        logger,
        discovery: dnsDiscovery({
          name: '_http._tcp.gone.test',
          resolver: spying,
          intervalMs: 10_000,
          resolveTargets,
        }),
      });
      try {
        await until(
          () => balancer.snapshot().discovery!.updates + balancer.snapshot().discovery!.errors >= 1,
          5_000,
          'the first lookup',
        );
        expect(balancer.instances()).toEqual([]);
        // The root name is not a host: no A/AAAA query for it, no "http://:80" entry.
        expect(asked).toEqual([]);
        expect(warnings.map((w) => w.msg)).not.toContain('ballast: discovered instance skipped');
        expect(balancer.snapshot().discovery!.lastError ?? '').not.toMatch(/EREFUSED|ENODATA|valid instance/);
      } finally {
        balancer.close();
      }
    },
  );
});

describe('records at scale and IPv6', () => {
  it('300 SRV records (a TCP-sized answer, rotated by the server each time) give 300 stable instances', async () => {
    const n = 300;
    await dnsmasq.setRecords({
      hosts: Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}.svc.test`, ['127.0.0.1']])),
      srv: Array.from({ length: n }, (_, i) => ({
        name: '_http._tcp.many.test',
        target: `t${i}.svc.test`,
        port: 10_000 + i,
        priority: i % 3,
        weight: i % 5,
      })),
    });
    const updates: BalancerEvents['discovery-update'][] = [];
    const balancer = createBalancer({
      discovery: dnsDiscovery({ name: '_http._tcp.many.test', resolver, intervalMs: 50 }),
    });
    balancer.on('discovery-update', (e) => updates.push(e));
    try {
      await until(() => updates.length >= 4, 15_000, 'four lists');
      expect(updates[0]).toMatchObject({ added: n, total: n, skipped: 0 });
      for (const u of updates.slice(1))
        expect(u).toMatchObject({ added: 0, removed: 0, updated: 0, total: n });
      expect(balancer.get('t7.svc.test:10007')).toMatchObject({ priority: 1, weight: 2 });
      expect(balancer.get('t10.svc.test:10010')).toMatchObject({ priority: 1, weight: 0.01 });
    } finally {
      balancer.close();
    }
  }, 30_000);

  it('IPv6: AAAA ids and URLs are bracketed; an IPv6-only SRV target gives a bracketed URL', async () => {
    await dnsmasq.setRecords({
      hosts: { 'six.test': ['::1'], 'c.svc.test': ['127.0.0.1'] },
      srv: [
        { name: '_http._tcp.six.test', target: 'six.test', port: 8080 },
        { name: '_http._tcp.six.test', target: 'c.svc.test', port: 8081 },
      ],
    });
    const aaaa = createBalancer({
      discovery: dnsDiscovery({ name: 'SIX.test.', type: 'AAAA', port: 8443, protocol: 'https', resolver }),
    });
    const srv = createBalancer({ discovery: dnsDiscovery({ name: '_http._tcp.six.test', resolver }) });
    try {
      await until(() => aaaa.instances().length === 1 && srv.instances().length === 2, 5_000, 'the lists');
      expect(aaaa.instances()[0]).toMatchObject({ id: '[::1]:8443', url: 'https://[::1]:8443/' });
      expect(srv.get('six.test:8080')).toMatchObject({
        url: 'http://[::1]:8080/',
        metadata: { target: 'six.test' },
      });
    } finally {
      aaaa.close();
      srv.close();
    }
  });
});

describe('an SRV lookup that answers after close()', () => {
  it('applies nothing, leaves no timer, and sends no further queries for its targets', async () => {
    const baseline = activeHandles();
    let answer!: (records: unknown[]) => void;
    const queried: string[] = [];
    const warned: string[] = [];
    const resolver = {
      resolveSrv: () => new Promise((resolve) => (answer = resolve)),
      resolve4: (host: string) => (
        queried.push(host),
        Promise.reject(Object.assign(new Error('t'), { code: 'ETIMEOUT' }))
      ),
      resolve6: (host: string) => (
        queried.push(host),
        Promise.reject(Object.assign(new Error('t'), { code: 'ETIMEOUT' }))
      ),
    } as unknown as DnsResolver;
    const balancer = createBalancer({
      logger: {
        debug() {},
        info() {},
        error() {},
        warn: (_o: object, msg?: string) => void warned.push(msg ?? ''),
      },
      discovery: dnsDiscovery({ name: '_http._tcp.slow.test', resolver, intervalMs: 20 }),
    });
    const events: (BalancerEvents['discovery-update'] | BalancerEvents['discovery-error'])[] = [];
    balancer.on('discovery-update', (e) => events.push(e));
    balancer.on('discovery-error', (e) => events.push(e));
    balancer.close();
    // The SRV answer arrives after close: 100 targets.
    answer(
      Array.from({ length: 100 }, (_, i) => ({ name: `t${i}.svc.test`, port: 8080, priority: 0, weight: 1 })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toEqual([]);
    expect(balancer.instances()).toEqual([]);
    await expectNoHandlesBeyond(baseline);
    // Was: 200 A/AAAA queries and 100 "SRV target did not resolve" warnings after close().
    expect(queried).toEqual([]);
    expect(warned).toEqual([]);
  });
});

const stub = {
  resolveSrv: () => Promise.resolve([]),
  resolve4: () => Promise.resolve([]),
  resolve6: () => Promise.resolve([]),
} as never;

/** A legal DNS name of `length` characters (labels of at most 63). */
function legalName(length: number): string {
  const labels: string[] = [];
  let left = length;
  while (left > 0) {
    const n = Math.min(63, left === 64 ? 62 : left);
    labels.push('a'.repeat(n));
    left -= n + 1;
  }
  const name = labels.join('.');
  expect(name.length).toBe(length);
  return name;
}

describe('dnsDiscovery name validation', () => {
  it('a 250-character name that dnsDiscovery accepts is also accepted by createBalancer', () => {
    const name = legalName(250);
    const discovery = dnsDiscovery({ name, resolver: stub, intervalMs: 60_000 });
    let thrown: unknown;
    try {
      createBalancer({ discovery }).close();
    } catch (error) {
      thrown = error;
    }
    // Was: InvalidConfigError field 'discovery.name' (the source name `dns:SRV:<name>` is 258 > 256).
    expect(thrown).toBeUndefined();
  });

  it('accepts a 253-character name written with its trailing dot (RFC 1035 limit excludes the root dot)', () => {
    const name = `${legalName(253)}.`;
    expect(() => dnsDiscovery({ name, type: 'A', port: 80, resolver: stub })).not.toThrow();
  });

  it.each([
    ['an empty label', 'a..test'],
    ['a 64-octet label', `${'x'.repeat(64)}.test`],
  ])('rejects a name with %s naming "name" (it can never resolve: EBADNAME)', (_case, name) => {
    expect(() => dnsDiscovery({ name, type: 'A', port: 80 } as DnsDiscoveryOptions)).toThrow(
      expect.objectContaining({ field: 'name', code: 'BALLAST_INVALID_CONFIG' }) as InvalidConfigError,
    );
  });
});
