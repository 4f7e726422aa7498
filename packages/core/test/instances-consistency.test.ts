import { createBalancer, seededRandom } from '../src';
import { manualClock, pool } from './helpers';

describe('get()/instances() agree with snapshot() at the same instant', () => {
  it('an ejection whose time is up: instances() says what snapshot() says, and get() after either', () => {
    const clock = manualClock();
    const balancer = createBalancer({
      instances: pool(3),
      strategy: 'round-robin',
      clock,
      random: seededRandom(1),
      health: { slowStart: false },
    });
    expect(balancer.eject('i0', 'test')).toBe(true);
    expect(balancer.get('i0')!.state).toBe('ejected');
    clock.advance(30_001);
    // No pick in between: the ejection is over ("returns as soon as its time is up"). get() is
    // the live member as of the latest health work (see its TSDoc); instances() does that work.
    const fromList = balancer.instances().find((i) => i.id === 'i0')!.state;
    const fromGet = balancer.get('i0')!.state;
    const fromSnapshot = balancer.snapshot().instances.find((i) => i.id === 'i0')!.state;
    expect([fromList, fromGet, fromSnapshot]).toEqual(['healthy', 'healthy', 'healthy']);
  });
});
