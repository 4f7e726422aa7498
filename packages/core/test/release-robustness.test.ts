import { createBalancer, seededRandom, type Lease } from '../src';
import { pool, testBalancer } from './helpers';

describe('release() keeps in-flight counts exact whatever it is handed', () => {
  it('an outcome whose `ok` getter throws neither escapes release() nor leaks an in-flight count', () => {
    const { balancer } = testBalancer({ instances: pool(1) });
    const lease = balancer.pick();
    const outcome = {
      get ok(): boolean {
        throw new Error('getter bug');
      },
    };
    let thrown: unknown;
    try {
      lease.release(outcome);
    } catch (error) {
      thrown = error;
    }
    // Either it is ignored/treated as garbage (like { ok: 'yes' }), or it throws a BallastError;
    // in both cases the lease is settled and in-flight goes back to 0.
    const rawErrorEscaped = thrown !== undefined && (thrown as { code?: unknown }).code === undefined;
    lease.release({ ok: true, latencyMs: 1 });
    expect({ rawErrorEscaped, inflight: balancer.get('i0')!.inflight }).toEqual({
      rawErrorEscaped: false,
      inflight: 0,
    });
  });

  it('a clock that throws once while a lease is released does not leave the lease counted in flight', () => {
    let now = 0;
    let throwNext = false;
    const clock = () => {
      if (throwNext) {
        throwNext = false;
        throw new Error('clock hiccup');
      }
      return now;
    };
    const balancer = createBalancer({ clock, random: seededRandom(1), instances: pool(1) });
    const lease = balancer.pick();
    now = 5;
    throwNext = true;
    try {
      lease.release({ ok: true }); // no latencyMs: the balancer reads the clock
    } catch {
      // whether it throws is not the point here
    }
    // A second call is either the retry that settles it, or ignored because the first did.
    lease.release({ ok: true });
    expect(balancer.get('i0')!.inflight).toBe(0);
  });
});

describe('idle recovery and outcome times', () => {
  // Long requests on a quiet service: seven requests to i1 start at t=0 and all fail at t=60 s.
  // i1 was never idle (it had requests in flight throughout) and has just failed seven in a row.
  function longFailures(passLatency: boolean) {
    const { balancer, clock } = testBalancer({
      strategy: 'round-robin',
      instances: pool(3),
      health: { slowStart: false, outlier: false },
    });
    const held: Lease[] = [];
    for (let i = 0; i < 7; i++) held.push(balancer.pick({ exclude: ['i0', 'i2'] }));
    clock.set(60_000);
    for (const lease of held) lease.release(passLatency ? { ok: false, latencyMs: 60_000 } : { ok: false });
    expect(balancer.get('i1')!.state).toBe('unhealthy');
    // The very next request, at the same instant.
    balancer.pick().release({ ok: true, latencyMs: 1 });
    return balancer.get('i1')!;
  }

  it('control: without latencyMs, an instance that just failed stays unhealthy at the next pick', () => {
    expect(longFailures(false).state).toBe('unhealthy');
  });

  it('with latencyMs, an instance that just failed is not credited a minute of idle recovery', () => {
    const i1 = longFailures(true);
    expect({ state: i1.state, belowThreshold: i1.health < 0.5 }).toEqual({
      state: 'unhealthy',
      belowThreshold: true,
    });
  });
});
