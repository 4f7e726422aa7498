// Discovery and registration beyond the happy path: value formats and neighbouring
// directories, a directory of thousands, host URLs etcd3 cannot use, the registration's lease,
// and its close().
import {
  createBalancer,
  InvalidConfigError,
  type Balancer,
  type BalancerEvents,
  type Logger,
} from '@ballast/core';
import { activeHandles, expectNoHandlesBeyond, failOnProcessErrors, waitFor } from '@ballast/testing';
import { Etcd3 } from 'etcd3';

import { etcdDiscovery, registerInstance } from '../src';
import { useEtcd } from './etcd-fixture';
import { tcpProxy } from './tcp-proxy';

const env = useEtcd();
const closers = env.closers;

failOnProcessErrors();

function watching(service: string, extra: { prefix?: string; logger?: Logger } = {}): Balancer {
  const balancer = createBalancer({
    service,
    logger: extra.logger,
    discovery: etcdDiscovery({
      hosts: env.etcd.url,
      service,
      retryMs: 100,
      timeoutMs: 1_000,
      ...(extra.prefix === undefined ? {} : { prefix: extra.prefix }),
    }),
  });
  closers.push(() => balancer.close());
  return balancer;
}

const ids = (balancer: Balancer) =>
  balancer
    .instances()
    .map((i) => i.id)
    .sort();

describe('values', () => {
  it('a JSON string value (a bare URL) gets its id from the key, like an object without id', async () => {
    const dir = '/ballast/services/strings/';
    closers.push(() => env.direct.delete().prefix(dir));
    await env.direct.put(`${dir}s1`).value(JSON.stringify({ url: 'http://127.0.0.1:7101' }));
    // A value `"http://..."` is accepted (core takes a URL string as an instance) ...
    await env.direct.put(`${dir}s2`).value(JSON.stringify('http://127.0.0.1:7102'));
    const balancer = watching('strings');
    await waitFor(() => balancer.instances().length === 2, { message: 'two instances' });
    // ... but README: "id defaults to the key's last segment". Observed: ['http://127.0.0.1:7102', 's1'].
    expect(ids(balancer)).toEqual(['s1', 's2']);
  });

  // README "instances that stay keep their health" for a value edited in place.
  it('a value rewritten with a new weight, zone and metadata updates the instance in place, keeping what it learned', async () => {
    const dir = '/ballast/services/in-place/';
    closers.push(() => env.direct.delete().prefix(dir));
    await env.direct.put(`${dir}a`).value(JSON.stringify({ url: 'http://127.0.0.1:7201', weight: 1 }));
    await env.direct.put(`${dir}b`).value(JSON.stringify({ url: 'http://127.0.0.1:7202' }));
    const balancer = watching('in-place');
    await waitFor(() => balancer.instances().length === 2, { message: 'two instances' });
    const updates: BalancerEvents['discovery-update'][] = [];
    balancer.on('discovery-update', (e) => updates.push(e));
    const lease = balancer.pick({ exclude: ['b'] });
    lease.release({ ok: false, latencyMs: 40 });
    const before = balancer.get('a')!;
    expect(before.requests).toBe(1);

    await env.direct.put(`${dir}a`).value(
      JSON.stringify({
        url: 'http://127.0.0.1:7201',
        weight: 5,
        zone: 'z2',
        metadata: { v: '2' },
        priority: 1,
      }),
    );
    await waitFor(() => balancer.get('a')?.weight === 5, { message: 'the new weight' });
    expect(balancer.get('a')).toMatchObject({
      zone: 'z2',
      metadata: { v: '2' },
      priority: 1,
      requests: 1,
      failures: 1,
    });
    expect(updates).toEqual([expect.objectContaining({ added: 0, removed: 0, updated: 1 })]);
  });

  // A deleted key drops the instance; the same key put again is a new instance.
  it('a key deleted and put again is removed, then added fresh', async () => {
    const dir = '/ballast/services/again/';
    closers.push(() => env.direct.delete().prefix(dir));
    await env.direct.put(`${dir}a`).value(JSON.stringify({ url: 'http://127.0.0.1:7301' }));
    await env.direct.put(`${dir}keep`).value(JSON.stringify({ url: 'http://127.0.0.1:7302' }));
    const balancer = watching('again');
    await waitFor(() => balancer.instances().length === 2, { message: 'two instances' });
    balancer.pick({ exclude: ['keep'] }).release({ ok: true, latencyMs: 3 });
    await env.direct.delete().key(`${dir}a`);
    await waitFor(() => balancer.get('a') === undefined, { message: 'a removed' });
    await env.direct.put(`${dir}a`).value(JSON.stringify({ url: 'http://127.0.0.1:7301' }));
    await waitFor(() => balancer.get('a') !== undefined, { message: 'a back' });
    expect(balancer.get('a')!.requests).toBe(0);
    expect(ids(balancer)).toEqual(['a', 'keep']);
  });
});

describe('neighbouring directories', () => {
  // The watched range ends at the service's own slash.
  it('service "a" sees neither service "ab" nor a prefix that extends its own', async () => {
    closers.push(() => env.direct.delete().prefix('/svc'));
    await env.direct.put('/svc/a/x').value(JSON.stringify({ url: 'http://127.0.0.1:7401' }));
    await env.direct.put('/svc/ab/y').value(JSON.stringify({ url: 'http://127.0.0.1:7402' }));
    await env.direct.put('/svcx/a/z').value(JSON.stringify({ url: 'http://127.0.0.1:7403' }));
    await env.direct.put('/svc/a').value(JSON.stringify({ url: 'http://127.0.0.1:7404' }));
    const warnings: unknown[] = [];
    const logger: Logger = { debug() {}, info() {}, error() {}, warn: (obj) => void warnings.push(obj) };
    const balancer = watching('a', { prefix: '/svc', logger });
    await waitFor(() => balancer.instances().length === 1, { message: 'x' });
    await env.direct.put('/svc/ab/y2').value(JSON.stringify({ url: 'http://127.0.0.1:7405' }));
    await env.direct.put('/svcx/a/z2').value(JSON.stringify({ url: 'http://127.0.0.1:7406' }));
    await env.direct.put('/svc/a/x2').value(JSON.stringify({ url: 'http://127.0.0.1:7407' }));
    await waitFor(() => balancer.get('x2') !== undefined, { message: 'x2' });
    expect(ids(balancer)).toEqual(['x', 'x2']);
    expect(warnings).toEqual([]);
  });
});

/** Puts `count` instances under `dir`, 100 per transaction (etcd allows 128 operations in one). */
async function fill(
  client: Etcd3,
  dir: string,
  count: number,
  metadata: Record<string, string>,
): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const ops = [];
    for (let j = i; j < Math.min(count, i + 100); j++) {
      const url = `http://10.${(j >> 16) & 255}.${(j >> 8) & 255}.${j & 255}:8080`;
      ops.push(client.put(`${dir}i${j}`).value(JSON.stringify({ url, metadata })));
    }
    await client
      .if(`${dir}none`, 'Version', '==', 0)
      .then(...ops)
      .commit();
  }
}

describe('a directory of thousands of instances', () => {
  it('lists 6 000 instances whose values add up to more than 4 MiB (gRPC default receive limit)', async () => {
    const client = env.direct;
    const dir = '/ballast/services/big/';
    closers.push(() => client.delete().prefix(dir));
    // ~900 bytes per key: a few labels an operator might put in metadata.
    await fill(client, dir, 6_000, { build: 'b'.repeat(400), owner: 'o'.repeat(400) });
    const balancer = createBalancer({
      service: 'big',
      discovery: etcdDiscovery({ hosts: env.etcd.url, service: 'big', retryMs: 100, timeoutMs: 5_000 }),
    });
    closers.push(() => balancer.close());
    await waitFor(() => balancer.snapshot().discovery!.state !== 'pending', {
      timeoutMs: 10_000,
      message: 'a first answer',
    });
    // Was: state "failing", instances 0, lastError "8 RESOURCE_EXHAUSTED: Received message
    // larger than max (5.5 MB vs 4194304)", on every retry: the pool never gets a list.
    expect(balancer.snapshot().discovery).toMatchObject({
      state: 'ok',
      instances: 6_000,
    });
  }, 60_000);
});

/** What the caller gets: the InvalidConfigError's field, or undefined if the call went through. */
function refusedField(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidConfigError);
    return (error as InvalidConfigError).field;
  }
}

describe('hosts: an etcd URL is refused naming the field, or it works', () => {
  it('etcdDiscovery with a trailing-slash URL (http://127.0.0.1:<port>/) lists the directory, or is refused naming hosts', async () => {
    await env.direct.put('/ballast/services/slash/a').value(JSON.stringify({ url: 'http://127.0.0.1:7001' }));
    closers.push(() => env.direct.delete().prefix('/ballast/services/slash/'));
    let balancer: Balancer | undefined;
    const field = refusedField(() => {
      balancer = createBalancer({
        service: 'slash',
        discovery: etcdDiscovery({
          hosts: `${env.etcd.url}/`,
          service: 'slash',
          retryMs: 100,
          timeoutMs: 1_000,
        }),
      });
    });
    if (field !== undefined) {
      expect(field).toBe('hosts');
      return;
    }
    closers.push(() => balancer!.close());
    await waitFor(() => balancer!.snapshot().discovery!.state !== 'pending', { message: 'a first answer' });
    // Was: state "failing", lastError "14 UNAVAILABLE: Failed to parse DNS address dns:127.0.0.1:<port>/", for good.
    expect(balancer!.snapshot().discovery).toMatchObject({ state: 'ok', instances: 1 });
  });

  it('registerInstance with a trailing-slash URL registers, or is refused naming hosts', async () => {
    const outcome = await registerInstance({
      hosts: `${env.etcd.url}/`,
      service: 'slash-reg',
      instance: { id: 'r1', url: 'http://127.0.0.1:7002' },
      ttlSeconds: 5,
      timeoutMs: 1_000,
    }).then(
      (registration) => {
        closers.push(() => registration.close());
        return 'registered';
      },
      (error: { code?: string; field?: string }) => `${error.code} ${error.field ?? ''}`.trim(),
    );
    // Was: "BALLAST_REGISTRATION_FAILED" (cause: 14 UNAVAILABLE: Failed to parse DNS address).
    expect(['registered', 'BALLAST_INVALID_CONFIG hosts']).toContain(outcome);
  });

  it('etcdDiscovery refuses a mix of http and https hosts with InvalidConfigError naming hosts[1]', () => {
    // etcd3 cannot use such a list ("cannot be configured with a mix of secure and insecure hosts").
    const options = { hosts: ['http://127.0.0.1:2379', 'https://127.0.0.1:2380'], service: 's' };
    // Was: etcdDiscovery() accepts it; createBalancer() then throws BALLAST_DISCOVERY_ERROR
    // "Discovery ... failed to subscribe" caused by etcd3's plain Error.
    expect(() => createBalancer({ service: 's', discovery: etcdDiscovery(options) }).close()).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'hosts[1]' }) as Error,
    );
  });

  it('registerInstance refuses a mix of http and https hosts with InvalidConfigError naming hosts[1]', async () => {
    // Was: rejects with etcd3's plain Error (no code), neither BALLAST_INVALID_CONFIG nor
    // BALLAST_REGISTRATION_FAILED.
    await expect(
      registerInstance({
        hosts: ['http://127.0.0.1:2379', 'https://127.0.0.1:2380'],
        service: 's',
        instance: { url: 'http://127.0.0.1:3000' },
        ttlSeconds: 5,
      }),
    ).rejects.toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field: 'hosts[1]' });
  });

  it('registerInstance refuses malformed TLS credentials with InvalidConfigError naming client.credentials', async () => {
    // Was: rejects with grpc-js's plain TypeError ("Root certificate, if provided, must be a Buffer."), no code.
    await expect(
      registerInstance({
        hosts: 'https://127.0.0.1:2379',
        service: 's',
        instance: { url: 'http://127.0.0.1:3000' },
        ttlSeconds: 5,
        client: { credentials: { rootCertificate: '-----BEGIN CERTIFICATE-----' as never } },
      }),
    ).rejects.toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field: expect.stringMatching(/^client/) });
  });
});

/** The lease holding `key` ('0' when the key is missing) and that lease's granted TTL. */
async function leaseOf(key: string): Promise<{ id: string; grantedTTL: number }> {
  const res = await env.direct.get(key).exec();
  const id = res.kvs[0]?.lease ?? '0';
  if (id === '0') return { id, grantedTTL: 0 };
  const ttl = await env.direct.leaseClient.leaseTimeToLive({ ID: id });
  return { id, grantedTTL: Number(ttl.grantedTTL) };
}

describe('registerInstance lease', () => {
  it("the smallest ttlSeconds (2) is the lease etcd grants: a dead process's key goes within it", async () => {
    // ttlSeconds: 1 was accepted, and etcd, whose smallest lease is 1.5 election timeouts (2 s
    // by default), granted 2: the key of a dead process stayed twice as long as configured.
    const registration = await registerInstance({
      hosts: env.etcd.url,
      service: 'ttl-two',
      instance: { id: 't2', url: 'http://127.0.0.1:7501' },
      ttlSeconds: 2,
      retryMs: 100,
    });
    closers.push(() => registration.close());
    expect((await leaseOf(registration.key)).grantedTTL).toBe(2);
  });

  // Etcd itself expires or revokes the lease while the registration is connected (keep-alive
  // answered with TTL 0).
  it('a lease revoked in etcd (operator, lease expiry) is replaced and the key written again', async () => {
    const registration = await registerInstance({
      hosts: env.etcd.url,
      service: 'revoked',
      instance: { id: 'r1', url: 'http://127.0.0.1:7502' },
      ttlSeconds: 3,
      retryMs: 100,
      timeoutMs: 1_000,
    });
    closers.push(() => registration.close());
    const first = await leaseOf(registration.key);
    await env.direct.leaseClient.leaseRevoke({ ID: first.id });
    const deadline = Date.now() + 4_000;
    let now = first;
    while (Date.now() < deadline) {
      now = await leaseOf(registration.key);
      if (now.id !== '0' && now.id !== first.id) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(now.id).not.toBe('0');
    expect(now.id).not.toBe(first.id);
  }, 15_000);

  // A partition longer than the TTL but shorter than etcd3's 2 x TTL "lost" deadline:
  // etcd expired the lease; on reconnection the registration comes back.
  it('a partition that outlasts the lease on the server side re-registers as soon as etcd answers', async () => {
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const registration = await registerInstance({
      hosts: proxy.url,
      service: 'short-cut',
      instance: { id: 'c1', url: 'http://127.0.0.1:7503' },
      ttlSeconds: 2,
      retryMs: 100,
      timeoutMs: 1_000,
    });
    closers.push(() => registration.close());
    proxy.cut();
    await waitFor(() => false, { timeoutMs: 3_000 }).catch(() => {});
    const gone = await leaseOf(registration.key);
    proxy.restore();
    expect(gone.id).toBe('0');
    const restoredAt = Date.now();
    let now = gone;
    while (Date.now() - restoredAt < 5_000) {
      now = await leaseOf(registration.key);
      if (now.id !== '0') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(now.id).not.toBe('0');
    expect(Date.now() - restoredAt).toBeLessThan(3_000);
  }, 20_000);

  // close() deletes the key at once and leaves no handle.
  it('close() deletes the key at once and leaves no timer or socket open', async () => {
    const baseline = activeHandles();
    const registration = await registerInstance({
      hosts: env.etcd.url,
      service: 'closing',
      instance: { id: 'k1', url: 'http://127.0.0.1:7504' },
      ttlSeconds: 30,
    });
    expect((await leaseOf(registration.key)).id).not.toBe('0');
    await registration.close();
    expect((await env.direct.get(registration.key).exec()).kvs).toEqual([]);
    await registration.close(); // idempotent
    await expectNoHandlesBeyond(baseline, 3_000);
  });
});
