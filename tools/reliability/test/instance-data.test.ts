/**
 * Instance data validated like configuration: weights, zones and metadata arriving at runtime
 * (what discovery calls `add()` and `update()` with), outcomes with nonsense latencies, statuses
 * and loads, active-check verdicts that are not booleans, and the ORCA `endpoint-load-metrics`
 * header with NaN, Infinity, negative, huge or non-numeric values, from a real upstream.
 *
 * Whatever comes in, nothing but an `InvalidConfigError` naming the field escapes, and the
 * balancer's state stays sane: weights finite and positive, health in [0, 1], latencies finite.
 */
import http from 'node:http';

import {
  BallastError,
  createBalancer,
  InvalidConfigError,
  STRATEGY_NAMES,
  type Balancer,
  type InstanceInput,
  type InstancePatch,
} from '@ballast/core';
import { balancer as expressBalancer } from '@ballast/express';
import { parseLoadHeader } from '@ballast/node';
import { closeServer, listen, request } from '@ballast/testing';
import express from 'express';
import fc from 'fast-check';

const NASTY_NUMBERS: unknown[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -1,
  -0,
  0,
  1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  2 ** 53 + 1,
  '5',
  '',
  null,
  true,
  [],
  {},
  10n,
  Symbol('n'),
];
const nasty = fc.oneof(
  fc.constantFrom(...NASTY_NUMBERS),
  fc.double(),
  fc.integer(),
  fc.string({ maxLength: 6 }),
  fc.anything({ maxDepth: 1 }),
);

/** The balancer's state is sane: what strategies compute with is finite and in range. */
function expectSane(balancer: Balancer): void {
  for (const i of balancer.instances()) {
    expect(Number.isFinite(i.weight) && i.weight > 0).toBe(true);
    expect(Number.isFinite(i.effectiveWeight) && i.effectiveWeight >= 0).toBe(true);
    expect(i.health >= 0 && i.health <= 1).toBe(true);
    expect(Number.isFinite(i.latencyMs) && i.latencyMs >= 0).toBe(true);
    expect(i.successRate >= 0 && i.successRate <= 1).toBe(true);
    expect(i.inflight).toBeGreaterThanOrEqual(0);
  }
}

/** Runs `step`; a BallastError naming a field is a fine answer, anything else thrown is a bug. */
function tolerate(step: () => unknown): void {
  try {
    step();
  } catch (error) {
    if (!(error instanceof InvalidConfigError)) throw error;
    expect(error.message).toContain(error.field);
  }
}

describe('instance data from discovery and from upstreams', () => {
  test('add() and update() with hostile weights, zones and metadata', () => {
    const input = fc.record(
      {
        url: fc.constantFrom('http://127.0.0.1:7001', 'http://127.0.0.1:7002/x', 'nope', 5),
        id: fc.oneof(fc.constantFrom('d1', 'd2', 'a'), nasty),
        weight: nasty,
        zone: fc.oneof(fc.constantFrom('z'), nasty),
        metadata: fc.oneof(
          fc.dictionary(fc.string({ maxLength: 4 }), nasty, { maxKeys: 3 }),
          fc.constant({ ['__proto__']: 'x' }),
          nasty,
        ),
      },
      { requiredKeys: ['url'] },
    );
    fc.assert(
      fc.property(
        fc.constantFrom(...STRATEGY_NAMES),
        fc.array(fc.tuple(fc.boolean(), input), { maxLength: 8 }),
        (strategy, steps) => {
          const balancer = createBalancer({
            strategy,
            instances: [{ id: 'a', url: 'http://127.0.0.1:7000' }],
          });
          try {
            for (const [add, data] of steps) {
              if (add) tolerate(() => balancer.add(data as InstanceInput));
              else {
                const { url: _url, id: _id, ...patch } = data;
                tolerate(() => balancer.update('a', patch as InstancePatch));
              }
              expectSane(balancer);
              balancer.pick({ key: 'k' }).release({ ok: true, latencyMs: 1 });
            }
          } finally {
            balancer.close();
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('outcomes and check verdicts with hostile values never throw and never poison the state', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...STRATEGY_NAMES),
        fc.array(
          fc.record({
            ok: fc.oneof(fc.boolean(), nasty),
            status: nasty,
            latencyMs: nasty,
            load: nasty,
            check: nasty,
          }),
          { minLength: 1, maxLength: 25 },
        ),
        (strategy, outcomes) => {
          let now = 0;
          const balancer = createBalancer({
            strategy,
            clock: () => now,
            instances: ['http://127.0.0.1:7000', 'http://127.0.0.1:7001', 'http://127.0.0.1:7002'],
          });
          try {
            for (const o of outcomes) {
              now += 50;
              let lease;
              try {
                lease = balancer.pick({ key: 'k' });
              } catch (error) {
                // Everything ejected: a clean BALLAST_NO_INSTANCE, never anything else.
                expect(error).toBeInstanceOf(BallastError);
                continue;
              }
              lease.release(o as never);
              balancer.reportCheck(lease.instance.id, o.check as never);
              expectSane(balancer);
            }
          } finally {
            balancer.close();
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  test('parseLoadHeader gives a utilization in [0, 1] or nothing, for any header value', () => {
    const value = fc.oneof(
      fc.string(),
      fc
        .constantFrom(...NASTY_NUMBERS.map(String), '1e309', '-0', '0x1', '.5', '1.', ' 0.5', '0,5')
        .map((n) => `TEXT cpu_utilization=${n}`),
      fc.double().map((n) => `TEXT mem_utilization=0.1, cpu_utilization=${n}`),
      fc.constant(`TEXT cpu_utilization=0.${'1'.repeat(100_000)}`),
    );
    fc.assert(
      fc.property(value, (header) => {
        const load = parseLoadHeader(header);
        expect(load === undefined || (load >= 0 && load <= 1)).toBe(true);
      }),
      { numRuns: 5_000 },
    );
    for (const odd of [undefined, null, 5, ['TEXT cpu_utilization=0.5'], {}])
      expect(parseLoadHeader(odd as never)).toBeUndefined();
  });

  test('hostile endpoint-load-metrics headers from a real upstream leave weights finite and positive', async () => {
    const VALUES = [
      'TEXT cpu_utilization=NaN',
      'TEXT cpu_utilization=Infinity',
      'TEXT cpu_utilization=-1',
      'TEXT cpu_utilization=1e400',
      'TEXT cpu_utilization=0',
      `TEXT cpu_utilization=${'9'.repeat(400)}`,
      'JSON {"cpu_utilization": 0.5}',
      'TEXT cpu_utilization=0.5, cpu_utilization=-3',
      'TEXT =, ,=,cpu_utilization',
    ];
    let n = 0;
    const upstream = http.createServer((req, res) => {
      req.resume();
      const value = VALUES[n++ % VALUES.length]!;
      // Now and then the header twice, as an array.
      res.setHeader('endpoint-load-metrics', n % 4 === 0 ? [value, 'TEXT cpu_utilization=2'] : value);
      res.end('ok');
    });
    const url = await listen(upstream);
    const mw = expressBalancer(
      { instances: [url], health: { load: { blackoutMs: 0 }, slowStart: { windowMs: 100 } } },
      { healthCheck: false },
    );
    const gateway = http.createServer(express().use(mw));
    const gatewayUrl = await listen(gateway);
    try {
      for (let i = 0; i < VALUES.length * 4; i++) {
        const res = await request(`${gatewayUrl}/load/${i}`);
        expect(res.status).toBe(200);
        expectSane(mw.balancer);
      }
    } finally {
      await closeServer(gateway);
      await mw.close();
      await closeServer(upstream);
    }
  });
});
