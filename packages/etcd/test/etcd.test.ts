import path from 'node:path';

import {
  createBalancer,
  InvalidConfigError,
  type Balancer,
  type BalancerEvents,
  type Logger,
} from '@ballast/core';
import {
  activeHandles,
  expectNoHandlesBeyond,
  requireBinary,
  startProcess,
  waitFor,
  type StartedProcess,
} from '@ballast/testing';
import { Etcd3 } from 'etcd3';

import { etcdDiscovery, registerInstance, type Registration } from '../src';
import { useEtcd } from './etcd-fixture';
import { tcpProxy } from './tcp-proxy';

// A real etcd (Debian package etcd-server) on free loopback ports with a temporary data dir,
// killed and restarted during the tests; service instances are real processes that register
// themselves, and die.
const TTL_SECONDS = 2;
const FIXTURE = path.join(__dirname, 'fixtures', 'instance.ts');

const env = useEtcd();
const closers = env.closers;
const children: StartedProcess[] = [];

afterEach(async () => {
  await Promise.all(children.splice(0).map((p) => p.stop('SIGKILL')));
});

/** Starts one registering service process; resolves once it is registered (`match` is its URL). */
async function spawnInstance(service: string, id: string): Promise<StartedProcess> {
  const started = await startProcess(FIXTURE, {
    args: [env.etcd.url, service, id, String(TTL_SECONDS)],
    ready: /registered \S+ (\S+)/,
  });
  children.push(started);
  return started;
}

function recordingLogger() {
  const warnings: Record<string, unknown>[] = [];
  const messages: string[] = [];
  const logger: Logger = {
    debug() {},
    info: (_obj, msg) => void messages.push(String(msg)),
    error() {},
    warn: (obj, msg) => {
      warnings.push(obj as Record<string, unknown>);
      messages.push(String(msg));
    },
  };
  return { warnings, messages, logger };
}

function watchingBalancer(service: string, logger?: Logger): Balancer {
  const balancer = createBalancer({
    service,
    logger,
    discovery: etcdDiscovery({ hosts: env.etcd.url, service, retryMs: 100, timeoutMs: 1_000 }),
  });
  closers.push(() => balancer.close());
  return balancer;
}

const urlsOf = (balancer: Balancer) =>
  Object.fromEntries(balancer.instances().map((i) => [i.id, i.url.replace(/\/$/, '')]));

describe('etcdDiscovery and registerInstance against a real etcd', () => {
  it('three processes register and appear in two balancers; a killed one disappears from both within its TTL', async () => {
    const first = watchingBalancer('orders');
    const second = watchingBalancer('orders');
    const started = await Promise.all(['o1', 'o2', 'o3'].map((id) => spawnInstance('orders', id)));
    const expected = { o1: started[0]!.match, o2: started[1]!.match, o3: started[2]!.match };
    for (const balancer of [first, second]) {
      await waitFor(() => balancer.instances().length === 3, { message: 'three instances' });
      expect(urlsOf(balancer)).toEqual(expected);
      expect(balancer.snapshot().discovery).toMatchObject({
        source: 'etcd:/ballast/services/orders/',
        state: 'ok',
        instances: 3,
      });
    }
    // Something learned about a survivor, to check it survives the membership change.
    first.pick({ exclude: ['o2', 'o3'] }).release({ ok: true, latencyMs: 5 });
    const o1 = first.get('o1')!;

    const killedAt = Date.now();
    started[2]!.child.kill('SIGKILL');
    await Promise.all(
      [first, second].map((balancer) =>
        waitFor(() => balancer.get('o3') === undefined, {
          timeoutMs: TTL_SECONDS * 1_000 + 3_000,
          message: 'o3 to disappear',
        }),
      ),
    );
    // etcd expires a lease at most its TTL after the last keep-alive (which was before the kill);
    // on top come its 0.5 s expiry sweep, the revocation through raft and the watch's delivery
    // (about 0.3 s measured here), with room for a busy machine.
    expect(Date.now() - killedAt).toBeLessThan(TTL_SECONDS * 1_000 + 1_500);
    expect(first.get('o1')).toBe(o1);
    expect(o1.requests).toBe(1);

    // A clean shutdown deregisters at once (no waiting for the TTL).
    const stoppedAt = Date.now();
    const exited = started[1]!.stop('SIGTERM');
    await waitFor(() => first.get('o2') === undefined && second.get('o2') === undefined, {
      message: 'o2 to deregister',
    });
    expect(Date.now() - stoppedAt).toBeLessThan(TTL_SECONDS * 1_000);
    expect(await exited).toBe(0);
  }, 40_000);

  it('etcd restarts: both balancers keep the last list during the outage, then resume watching', async () => {
    const registrations: Registration[] = [];
    const register = async (id: string, port: number) => {
      const registration = await registerInstance({
        hosts: env.etcd.url,
        service: 'carts',
        instance: { id, url: `http://127.0.0.1:${port}`, zone: 'z1' },
        ttlSeconds: 5,
        retryMs: 100,
        timeoutMs: 1_000,
      });
      registrations.push(registration);
      closers.push(() => registration.close());
      return registration;
    };
    await register('c1', 4001);
    await register('c2', 4002);
    const first = watchingBalancer('carts');
    const second = watchingBalancer('carts');
    const errors: BalancerEvents['discovery-error'][] = [];
    first.on('discovery-error', (e) => errors.push(e));
    for (const b of [first, second])
      await waitFor(() => b.instances().length === 2, { message: 'two instances' });

    await env.etcd.kill();
    try {
      await waitFor(() => errors.length > 0, { message: 'the watch to notice the outage' });
      for (const b of [first, second]) {
        expect(b.instances().map((i) => i.id)).toEqual(['c1', 'c2']);
        expect(b.snapshot().discovery).toMatchObject({ state: 'failing', instances: 2 });
        expect(b.pick().instance.zone).toBe('z1');
      }
    } finally {
      await env.etcd.start();
    }
    for (const b of [first, second])
      await waitFor(() => b.snapshot().discovery!.state === 'ok', { timeoutMs: 10_000, message: 'recovery' });
    // The watch is live again: a registration after the restart reaches both.
    await register('c3', 4003);
    for (const b of [first, second])
      await waitFor(() => b.get('c3') !== undefined, { timeoutMs: 10_000, message: 'c3 after the restart' });
    // And the registrations from before the outage kept their keys alive through it.
    for (const b of [first, second])
      expect(
        b
          .instances()
          .map((i) => i.id)
          .sort(),
      ).toEqual(['c1', 'c2', 'c3']);
  }, 40_000);

  it('a registration whose lease ran out during a long outage registers again under a new lease', async () => {
    const { messages, logger } = recordingLogger();
    const registration = await registerInstance({
      hosts: env.etcd.url,
      service: 'phoenix',
      instance: { id: 'p1', url: 'http://127.0.0.1:4100' },
      ttlSeconds: 2,
      retryMs: 100,
      timeoutMs: 500,
      logger,
    });
    closers.push(() => registration.close());
    await env.etcd.kill();
    try {
      // etcd3 gives a lease up after two TTLs without a keep-alive.
      await waitFor(() => messages.some((m) => /lease lost/.test(m)), { message: 'the lease to be lost' });
    } finally {
      await env.etcd.start();
    }
    await waitFor(() => messages.some((m) => /registered in etcd again/.test(m)), {
      timeoutMs: 10_000,
      message: 'the registration to be renewed',
    });
    // Whatever lease etcd restored has expired by now: the key lives on the new, kept-alive one.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const balancer = watchingBalancer('phoenix');
    await waitFor(() => balancer.get('p1') !== undefined, { message: 'p1 in a new balancer' });
    await registration.close();
    await waitFor(() => balancer.get('p1') === undefined, { message: 'p1 to deregister' });
  }, 30_000);

  it('a missing registry binary fails naming the Debian package to install', () => {
    expect(() => requireBinary('ballast-no-such-daemon', 'ballast-pkg')).toThrow(
      /ballast-no-such-daemon is not installed.*apt-get install -y ballast-pkg/,
    );
  });

  it('skips values that are not valid instance JSON with a warning, and keeps watching', async () => {
    const client = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => client.close());
    const dir = '/ballast/services/carts-bad/';
    await client.put(`${dir}good`).value(JSON.stringify({ url: 'http://127.0.0.1:5001' }));
    await client.put(`${dir}not-json`).value('{ url: nope');
    const { warnings, logger } = recordingLogger();
    const balancer = watchingBalancer('carts-bad', logger);
    await waitFor(() => balancer.instances().length === 1, { message: 'the good instance' });
    expect(balancer.get('good')!.url).toBe('http://127.0.0.1:5001/');

    await client.put(`${dir}nan`).value('{"url":"http://127.0.0.1:5002","weight":"NaN"}');
    await client.put(`${dir}ftp`).value('{"url":"ftp://127.0.0.1:5003"}');
    await client.put(`${dir}meta`).value('{"url":"http://127.0.0.1:5004","metadata":{"n":1}}');
    await client.put(`${dir}array`).value('[1,2]');
    await client.put(`${dir}deep/er`).value('{"url":"http://127.0.0.1:5005"}');
    await client.put(`${dir}later`).value('{"url":"http://127.0.0.1:5006","weight":3,"priority":1}');
    await waitFor(() => balancer.get('later') !== undefined, { message: 'the later instance' });
    expect(balancer.get('later')).toMatchObject({ weight: 3, priority: 1 });
    expect(
      balancer
        .instances()
        .map((i) => i.id)
        .sort(),
    ).toEqual(['good', 'later']);
    const reasons = Object.fromEntries(
      warnings.map((w) => [String(w.key).slice(dir.length), String(w.reason)]),
    );
    expect(reasons).toEqual({
      'not-json': expect.stringMatching(/^not JSON/),
      nan: expect.stringMatching(/nan\.weight: "NaN"/),
      ftp: expect.stringMatching(/ftp\.url/),
      meta: expect.stringMatching(/meta\.metadata\.n: 1/),
      array: expect.stringMatching(/array: an array of 2/),
      'deep/er': expect.stringMatching(/<prefix>\/<service>\/<id>/),
    });

    // A bad value replacing a good one removes it; a deletion removes it too.
    await client.put(`${dir}good`).value('garbage');
    await client.delete().key(`${dir}later`);
    await client.put(`${dir}fixed`).value('{"url":"http://127.0.0.1:5007"}');
    await waitFor(() => balancer.get('fixed') !== undefined, { message: 'the fixed instance' });
    expect(balancer.instances().map((i) => i.id)).toEqual(['fixed']);
    await client.delete().prefix(dir);
  }, 20_000);

  it('applies every key of a change that touches several at once (one transaction, one range delete)', async () => {
    const client = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => client.close());
    const dir = '/ballast/services/batch/';
    closers.push(() => client.delete().prefix(dir));
    await client.put(`${dir}seed`).value(JSON.stringify({ url: 'http://127.0.0.1:5201' }));
    const balancer = watchingBalancer('batch');
    await waitFor(() => balancer.instances().length === 1, { message: 'the seed instance' });

    // Three puts in one transaction: three watch events with one revision.
    await client
      .if(`${dir}seed`, 'Version', '>', 0)
      .then(
        ...['a', 'b', 'c'].map((id, i) =>
          client.put(`${dir}${id}`).value(JSON.stringify({ url: `http://127.0.0.1:${5210 + i}` })),
        ),
      )
      .commit();
    await client.put(`${dir}marker`).value(JSON.stringify({ url: 'http://127.0.0.1:5220' }));
    await waitFor(() => balancer.get('marker') !== undefined, { message: 'the marker instance' });
    expect(
      balancer
        .instances()
        .map((i) => i.id)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'marker', 'seed']);

    // Deleting the directory (`etcdctl del --prefix`) removes every key at one revision.
    await client.delete().prefix(dir);
    await client.put(`${dir}after`).value(JSON.stringify({ url: 'http://127.0.0.1:5230' }));
    await waitFor(() => balancer.get('after') !== undefined, { message: 'the instance put after' });
    expect(balancer.instances().map((i) => i.id)).toEqual(['after']);
  });

  it('values that are all invalid are a discovery failure: the last good list keeps serving', async () => {
    const client = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => client.close());
    const dir = '/ballast/services/all-bad/';
    closers.push(() => client.delete().prefix(dir));
    await client.put(`${dir}a`).value(JSON.stringify({ url: 'http://127.0.0.1:5101' }));
    const balancer = watchingBalancer('all-bad');
    await waitFor(() => balancer.instances().length === 1, { message: 'the good instance' });
    const seen: string[] = [];
    balancer.on('discovery-error', () => seen.push('error'));
    balancer.on('discovery-update', () => seen.push('update'));

    await client.put(`${dir}a`).value('garbage');
    await waitFor(() => seen.length > 0, { message: 'the bad value to arrive' });
    expect(seen).toEqual(['error']);
    expect(balancer.instances().map((i) => i.id)).toEqual(['a']);
    expect(balancer.snapshot().discovery).toMatchObject({ state: 'failing', instances: 1 });
    expect(balancer.snapshot().discovery!.lastError).toMatch(/none of the 1 values/);

    // A valid value again is a good list again.
    await client.put(`${dir}b`).value(JSON.stringify({ url: 'http://127.0.0.1:5102' }));
    await waitFor(() => balancer.get('b') !== undefined, { message: 'b' });
    expect(balancer.instances().map((i) => i.id)).toEqual(['b']);
    expect(balancer.snapshot().discovery!.state).toBe('ok');
  });

  /** A balancer discovering `service` through a TCP proxy to etcd, and the handles before it. */
  async function throughProxy(service: string) {
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const baseline = activeHandles();
    const balancer = createBalancer({
      service,
      discovery: etcdDiscovery({ hosts: proxy.url, service, retryMs: 100, timeoutMs: 1_000 }),
    });
    closers.push(() => balancer.close());
    await waitFor(() => balancer.snapshot().discovery!.state === 'ok', { message: 'the first list' });
    return { proxy, baseline, balancer };
  }

  it('an etcd that stops answering (connection open, nothing comes back) is an outage; close() then leaves nothing open', async () => {
    const { proxy: frozen, baseline, balancer } = await throughProxy('frozen');
    const failed = new Promise<void>((resolve) => balancer.on('discovery-error', () => resolve()));
    frozen.freeze();
    // Keep-alive pings go out every 10 s and wait timeoutMs for their answer.
    await failed;
    expect(balancer.snapshot().discovery!.state).toBe('failing');
    balancer.close();
    await expectNoHandlesBeyond(baseline, 5_000);
  }, 30_000);

  it('close() after seconds of etcd refusing connections leaves no timer behind', async () => {
    // The watch's reconnection timers were etcd3's, not cancellable, and their backoff grew to
    // 10 s: they held the process up that long after close().
    const { proxy, baseline, balancer } = await throughProxy('gone-away');
    proxy.cut();
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    expect(balancer.snapshot().discovery!.state).toBe('failing');
    balancer.close();
    await expectNoHandlesBeyond(baseline, 2_000);
  }, 30_000);

  it('a balancer started while etcd is unreachable keeps retrying, failing, with an empty pool', async () => {
    const balancer = createBalancer({
      discovery: etcdDiscovery({
        hosts: 'http://127.0.0.1:1',
        service: 'nowhere',
        retryMs: 50,
        timeoutMs: 200,
      }),
    });
    closers.push(() => balancer.close());
    await waitFor(() => balancer.snapshot().discovery!.errors >= 2, { message: 'retries' });
    expect(balancer.snapshot().discovery).toMatchObject({ state: 'failing', instances: 0 });
    expect(() => balancer.pick()).toThrow(/until discovery delivers its first list/);
  });

  it('registerInstance rejects with BALLAST_REGISTRATION_FAILED when etcd does not answer', async () => {
    await expect(
      registerInstance({
        hosts: 'http://127.0.0.1:1',
        service: 'x',
        instance: { url: 'http://127.0.0.1:3000' },
        ttlSeconds: 2,
        timeoutMs: 300,
      }),
    ).rejects.toMatchObject({ code: 'BALLAST_REGISTRATION_FAILED' });
  });

  it.each<[Record<string, unknown>, string]>([
    [{ hosts: [], service: 's' }, 'hosts'],
    [{ hosts: ['http://127.0.0.1:2379', 'tcp://x'], service: 's' }, 'hosts[1]'],
    [{ hosts: 'http://127.0.0.1:2379', service: 'a/b' }, 'service'],
    [{ hosts: 'http://127.0.0.1:2379', service: 's', prefix: 'no-slash' }, 'prefix'],
    [{ hosts: 'http://127.0.0.1:2379', service: 's', retryMs: 0 }, 'retryMs'],
    [{ hosts: 'http://127.0.0.1:2379', service: 's', watch: true }, 'watch'],
  ])('etcdDiscovery rejects %p naming %s', (options, field) => {
    expect(() => etcdDiscovery(options as never)).toThrow(
      expect.objectContaining({ field }) as InvalidConfigError,
    );
  });

  it.each<[Record<string, unknown>, string]>([
    [{ ttlSeconds: 0 }, 'ttlSeconds'],
    [{ ttlSeconds: 1.5 }, 'ttlSeconds'],
    [{ ttlSeconds: 1 }, 'ttlSeconds'],
    [{ instance: { url: 'http://127.0.0.1:3000', weight: Number.NaN } }, 'instance.weight'],
    [{ instance: { url: 'http://127.0.0.1:3000', metadata: { a: 1 } } }, 'instance.metadata.a'],
    [{ instance: 42 }, 'instance'],
  ])('registerInstance rejects %p naming %s', async (patch, field) => {
    const options = {
      hosts: env.etcd.url,
      service: 's',
      instance: { url: 'http://127.0.0.1:3000' },
      ttlSeconds: 2,
      ...patch,
    };
    await expect(registerInstance(options as never)).rejects.toMatchObject({ field });
  });
});

describe('odd input from the directory and the options', () => {
  it('a deregistration is applied even when a stray, invalid key sits in the service directory', async () => {
    const client = new Etcd3({ hosts: env.etcd.url });
    closers.push(() => client.close());
    const dir = '/ballast/services/stray/';
    closers.push(() => client.delete().prefix(dir));
    // Something that is not an instance under the directory (README: "a key nested deeper" is
    // skipped with a warning).
    await client.put(`${dir}config/owner`).value('{"team":"payments"}');
    const registration = await registerInstance({
      hosts: env.etcd.url,
      service: 'stray',
      instance: { id: 's1', url: 'http://127.0.0.1:4501' },
      ttlSeconds: 5,
      retryMs: 100,
    });
    const balancer = watchingBalancer('stray');
    await waitFor(() => balancer.get('s1') !== undefined, { message: 's1' });

    // The service deregisters (SIGTERM: close() revokes the lease, the key is gone at once).
    await registration.close();
    expect((await client.getAll().prefix(dir).keys()).sort()).toEqual([`${dir}config/owner`]);
    // Issue 7: removed instances stop receiving picks at once. A skipped stray key once made the
    // (correctly empty) list count as "none valid", a failure, and s1 stayed in the pool for good.
    await waitFor(() => balancer.get('s1') === undefined, { timeoutMs: 3_000, message: 's1 to be removed' });
  }, 20_000);

  it('a warn-only logger is completed with no-ops: a keep-alive failure never throws out of a timer', async () => {
    // A proxy that stops forwarding: the keep-alive stream times out after one TTL.
    const proxy = await tcpProxy(env.etcd.url);
    closers.push(() => proxy.close());
    const hosts = proxy.url;

    const thrown: unknown[] = [];
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const onUncaught = (error: unknown) => void thrown.push(error);
    process.on('uncaughtException', onUncaught);
    closers.push(() => {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    });

    const registration = await registerInstance({
      hosts,
      service: 'log-crash',
      instance: { id: 'c1', url: 'http://127.0.0.1:4602' },
      ttlSeconds: 2,
      timeoutMs: 500,
      logger: { warn() {} } as never,
    });
    closers.push(() => registration.close());
    proxy.freeze();
    await waitFor(() => thrown.length > 0, { timeoutMs: 4_000, message: 'an uncaught exception' }).catch(
      () => {},
    );
    // It was an uncaught TypeError (logger.debug is not a function): the service crashed.
    expect(thrown.map(String)).toEqual([]);
  }, 20_000);
});
