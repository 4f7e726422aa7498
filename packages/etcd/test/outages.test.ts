// Discovery and registration through outages that lose etcd's history: a compaction of the
// revision a watch would resume from, and an etcd back without its data (revisions start over).
import { createBalancer, type Balancer } from '@ballast/core';
import { failOnProcessErrors, startEtcd, waitFor } from '@ballast/testing';
import { Etcd3 } from 'etcd3';

import { etcdDiscovery, registerInstance } from '../src';
import { useEtcd } from './etcd-fixture';
import { tcpProxy } from './tcp-proxy';

const env = useEtcd();
const closers = env.closers;

failOnProcessErrors();

function discovering(hosts: string, service: string): Balancer {
  const balancer = createBalancer({
    service,
    discovery: etcdDiscovery({ hosts, service, retryMs: 100, timeoutMs: 1_000 }),
  });
  closers.push(() => balancer.close());
  return balancer;
}

const ids = (balancer: Balancer) =>
  balancer
    .instances()
    .map((i) => i.id)
    .sort();

const value = (port: number) => JSON.stringify({ url: `http://127.0.0.1:${port}` });

describe('etcdDiscovery under faults', () => {
  it('follows the directory again after its watched revision was compacted during a partition', async () => {
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const direct = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => direct.close());
    const dir = '/ballast/services/compacted/';
    closers.push(() => direct.delete().prefix(dir));
    await direct.put(`${dir}a`).value(value(6001));
    const balancer = discovering(proxy.url, 'compacted');
    await waitFor(() => balancer.get('a') !== undefined, { message: 'a' });
    const errors: string[] = [];
    balancer.on('discovery-error', (e) => errors.push(String((e.error as Error).message)));

    proxy.cut();
    await direct.put(`${dir}b`).value(value(6002));
    await direct.delete().key(`${dir}a`);
    const { header } = await direct.put(`${dir}c`).value(value(6003)).exec();
    // Everything the watch would resume from is gone.
    await direct.kv.compact({ revision: header.revision, physical: true });
    proxy.restore();

    await waitFor(() => ids(balancer).join() === 'b,c', { timeoutMs: 5_000, message: 'b and c' });
    // And it keeps following: a change after the recovery arrives.
    await direct.put(`${dir}d`).value(value(6004));
    await waitFor(() => balancer.get('d') !== undefined, {
      timeoutMs: 5_000,
      message: 'd after the compaction',
    });
    expect(ids(balancer)).toEqual(['b', 'c', 'd']);
    expect(balancer.snapshot().discovery!.state).toBe('ok');
    // A lost watch is not resumed but made again after a fresh read, so the compacted revision
    // is never asked for; the outage is reported once.
    expect(errors).toHaveLength(1);
  }, 20_000);

  it('follows an etcd that came back without its data (its revisions start over)', async () => {
    const fresh = await startEtcd();
    closers.push(() => fresh.close());
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const old = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => old.close());
    const dir = '/ballast/services/amnesia/';
    closers.push(() => old.delete().prefix(dir));
    // Enough history that the old revision is well ahead of the new etcd's.
    for (let i = 0; i < 30; i++) await old.put(`${dir}old`).value(value(6100 + i));
    const balancer = discovering(proxy.url, 'amnesia');
    await waitFor(() => balancer.get('old') !== undefined, { message: 'the old instance' });

    proxy.retarget(fresh.url);
    const next = new Etcd3({ hosts: fresh.url });
    closers.push(() => next.close());
    await next.put(`${dir}n1`).value(value(6201));
    await waitFor(() => ids(balancer).join() === 'n1', { timeoutMs: 5_000, message: 'the new etcd listed' });
    // A registration after the new etcd was read must arrive too.
    await next.put(`${dir}n2`).value(value(6202));
    await waitFor(() => balancer.get('n2') !== undefined, {
      timeoutMs: 5_000,
      message: 'n2 from the new etcd',
    });
  }, 30_000);
});

describe('registerInstance under faults', () => {
  it('registers again in an etcd that came back without its data', async () => {
    const fresh = await startEtcd();
    closers.push(() => fresh.close());
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const registration = await registerInstance({
      hosts: proxy.url,
      service: 'reborn',
      instance: { id: 'r1', url: 'http://127.0.0.1:6301' },
      ttlSeconds: 2,
      retryMs: 100,
      timeoutMs: 1_000,
    });
    closers.push(() => registration.close());
    proxy.retarget(fresh.url);
    const next = new Etcd3({ hosts: fresh.url });
    closers.push(() => next.close());
    const deadline = Date.now() + 6_000;
    let keys: string[] = [];
    while (Date.now() < deadline) {
      keys = await next.getAll().prefix('/ballast/services/reborn/').keys();
      if (keys.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(keys).toEqual([registration.key]);
  }, 30_000);
});
