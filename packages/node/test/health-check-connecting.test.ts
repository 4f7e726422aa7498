import { createBalancer } from '@ballast/core';
import { failOnProcessErrors } from '@ballast/testing';
import { createProxy } from '../src';
import { blackholeUrl, cleanup, until } from './helpers';

failOnProcessErrors();
afterEach(cleanup);

/** Client sockets and other TCP handles of this process. */
function sockets(): number {
  return process.getActiveResourcesInfo().filter((t) => t === 'TCPSocketWrap').length;
}

/**
 * An instance on a host that drops SYNs (a machine that is down): a probe stays in undici's
 * queue, connecting, until connectTimeoutMs; undici gives the handler no controller before that,
 * so ProbeHandler.cancel() cannot abort it.
 */
describe('probes to an instance whose connections never open', () => {
  it('proxy.close() during a probe still connecting returns at once and leaves no socket', async () => {
    const url = await blackholeUrl();
    const before = sockets();
    const balancer = createBalancer({ instances: [{ id: 'b', url }] });
    const reports: boolean[] = [];
    const original = balancer.reportCheck.bind(balancer);
    balancer.reportCheck = (id, ok) => (reports.push(ok), original(id, ok));
    const proxy = createProxy(balancer, {
      connectTimeoutMs: 8_000,
      healthCheck: { intervalMs: 20, timeoutMs: 5_000 },
    });
    await until(() => sockets() > before, 2_000, 'a probe connecting');
    const started = Date.now();
    await proxy.close();
    const closeMs = Date.now() - started;
    await new Promise((r) => setTimeout(r, 50));
    const left = sockets() - before;
    balancer.close();
    // close() took 8 s (connectTimeoutMs): it waited for the probe. The one connection attempt
    // undici made for it ends at its connect timeout; undici offers no way to abort it sooner.
    expect({ closeMs: closeMs < 1_000 ? 'fast' : closeMs, reports }).toEqual({
      closeMs: 'fast',
      reports: [],
    });
    expect(left).toBeLessThanOrEqual(1);
  }, 20_000);

  it('probes that time out while connecting leave at most one connection attempt, and close() returns at once', async () => {
    const url = await blackholeUrl();
    const before = sockets();
    const proxy = createProxy(
      { instances: [{ id: 'b', url }] },
      { connectTimeoutMs: 10_000, healthCheck: { intervalMs: 20, timeoutMs: 30, unhealthyThreshold: 1 } },
    );
    await until(() => proxy.balancer.get('b')!.state === 'unhealthy', 3_000, 'b out on timed-out probes');
    await new Promise((r) => setTimeout(r, 300));
    // One probe at a time: at most one connection attempt of the checker.
    // Was: one more connecting socket per probe (~20 per second here, up to `connections`).
    const attempts = sockets() - before;
    const started = Date.now();
    await proxy.close();
    const closeMs = Date.now() - started;
    // Was: ≈ 10 000 ms (connectTimeoutMs): close() waits for probes that were given up on.
    expect({ attempts: attempts <= 1 ? 'at most 1' : attempts, closeFast: closeMs < 1_000 }).toEqual({
      attempts: 'at most 1',
      closeFast: true,
    });
  }, 20_000);
});
