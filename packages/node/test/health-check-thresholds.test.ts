import { createBalancer } from '@ballast/core';
import { failOnProcessErrors } from '@ballast/testing';
import { createProxy } from '../src';
import { cleanup, listen, until } from './helpers';

failOnProcessErrors();
afterEach(cleanup);

/**
 * Probes a real upstream answering the scripted statuses in order (the last one after that),
 * then never answers; returns the statuses served and the reports, in order.
 */
async function run(
  script: number[],
  options: { healthyThreshold: number; unhealthyThreshold: number; expectStatus?: unknown },
  extra: { location?: string } = {},
): Promise<string> {
  let i = 0;
  const trace: string[] = [];
  const up = await listen((_req, res) => {
    if (i >= script.length) return; // past the script: never answers (no more entries)
    const status = script[i]!;
    i += 1;
    trace.push(String(status));
    res.statusCode = status;
    if (extra.location !== undefined) res.setHeader('location', extra.location);
    res.end();
  });
  const balancer = createBalancer({ instances: [{ id: 'x', url: up.url }], health: { slowStart: false } });
  const original = balancer.reportCheck.bind(balancer);
  balancer.reportCheck = (id, ok) => {
    trace.push(ok ? 'IN' : 'OUT');
    original(id, ok);
  };
  const proxy = createProxy(balancer, {
    healthCheck: { intervalMs: 10, timeoutMs: 2_000, ...options } as never,
  });
  try {
    await until(() => i >= script.length, 5_000, 'the script to run');
    await new Promise((r) => setTimeout(r, 30));
  } finally {
    await proxy.close();
    balancer.close();
  }
  return trace.join(' ');
}

describe('thresholds counted exactly against a real upstream', () => {
  it('unhealthyThreshold failures in a row take it out; a pass in between resets the run', async () => {
    const trace = await run([200, 500, 500, 200, 500, 500, 500, 500, 200, 200], {
      healthyThreshold: 2,
      unhealthyThreshold: 3,
    });
    expect(trace).toBe('200 500 500 200 500 500 500 OUT 500 200 200 IN');
  });

  it('healthyThreshold passes in a row bring it back; a failure in between resets the run', async () => {
    const trace = await run([500, 200, 500, 200, 200], { healthyThreshold: 2, unhealthyThreshold: 1 });
    expect(trace).toBe('500 OUT 200 500 200 200 IN');
  });
});

describe('expectStatus forms', () => {
  it('a number: only that status passes', async () => {
    const trace = await run([204, 200, 204], {
      healthyThreshold: 1,
      unhealthyThreshold: 1,
      expectStatus: 204,
    });
    expect(trace).toBe('204 200 OUT 204 IN');
  });

  it('an array: any listed status passes', async () => {
    const trace = await run([200, 418, 503, 200], {
      healthyThreshold: 1,
      unhealthyThreshold: 1,
      expectStatus: [200, 418],
    });
    expect(trace).toBe('200 418 503 OUT 200 IN');
  });

  it('a function that throws fails the probe without breaking the checker', async () => {
    const trace = await run([200, 500, 200], {
      healthyThreshold: 1,
      unhealthyThreshold: 1,
      expectStatus: (s: number) => {
        if (s === 500) throw new Error('boom');
        return true;
      },
    });
    expect(trace).toBe('200 500 OUT 200 IN');
  });

  it('default: a 3xx passes (200 to 399) and is not followed', async () => {
    let followed = 0;
    const elsewhere = await listen((_req, res) => {
      followed += 1;
      res.end();
    });
    const trace = await run(
      [302, 500, 301],
      { healthyThreshold: 1, unhealthyThreshold: 1 },
      {
        location: `${elsewhere.url}/health`,
      },
    );
    expect(trace).toBe('302 500 OUT 301 IN');
    expect(followed).toBe(0);
  });
});

describe('invalid healthCheck options', () => {
  const bad: [string, unknown][] = [
    ['expectStatus', '200'],
    ['expectStatus', []],
    ['expectStatus', [200, 600]],
    ['expectStatus', [200.5]],
    ['expectStatus', 99],
    ['expectStatus', null],
    ['expectStatus', { min: 200, max: 299 }],
    ['expectStatus', NaN],
    ['path', 'health'],
    ['path', '/a b'],
    ['intervalMs', 0],
    ['timeoutMs', 1.5],
    ['healthyThreshold', 0],
    ['unhealthyThreshold', 101],
  ];
  it.each(bad)('%s = %p throws BALLAST_INVALID_CONFIG naming proxy.healthCheck.%s', (field, value) => {
    let error: unknown;
    try {
      createProxy({ instances: ['http://127.0.0.1:1'] }, { healthCheck: { [field]: value } as never });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field: `proxy.healthCheck.${field}` });
  });
});
