/**
 * The adaptive strategy's signal should describe the instances it balances over.
 */
import { createBalancer, seededRandom, type BalancerEvents } from '../src';
import { manualClock, pool } from './helpers';

describe('adaptive', () => {
  it('returns to least-connections once the slow instance is out of service and the rest answer alike', () => {
    const clock = manualClock();
    const balancer = createBalancer({
      strategy: 'adaptive',
      clock,
      random: seededRandom(4),
      instances: pool(3),
    });
    const switches: BalancerEvents['strategy-change'][] = [];
    balancer.on('strategy-change', (e) => switches.push(e));
    const run = (ms: number, latencyOf: (id: string) => number) => {
      const end = clock() + ms;
      while (clock() < end) {
        clock.advance(10);
        const lease = balancer.pick();
        lease.release({ ok: true, latencyMs: latencyOf(lease.instance.id) });
      }
    };
    run(30_000, (id) => (id === 'i2' ? 40 : 10));
    expect(switches.map((s) => [s.from, s.to])).toEqual([['least-connections', 'peak-ewma']]);
    // Its health check takes i2 out: it serves nothing any more, and i0 and i1 answer alike.
    balancer.reportCheck('i2', false);
    expect(balancer.get('i2')!.state).toBe('unhealthy');
    run(120_000, () => 10);
    // Two minutes of identical latencies over every serving instance: far past the 10 s dwell
    // and the ~1 s smoothing, the latency signal over the pool is 0 and must have switched back.
    expect(balancer.snapshot().activeStrategy).toBe('least-connections');
    expect(switches.map((s) => [s.from, s.to])).toEqual([
      ['least-connections', 'peak-ewma'],
      ['peak-ewma', 'least-connections'],
    ]);
  });
});
