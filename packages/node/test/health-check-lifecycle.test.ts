import type { ServerResponse } from 'node:http';
import { createBalancer } from '@ballast/core';
import { failOnProcessErrors } from '@ballast/testing';
import { createProxy } from '../src';
import { cleanup, listen, until } from './helpers';

failOnProcessErrors();
afterEach(cleanup);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recordReports(balancer: ReturnType<typeof createBalancer>): [string, boolean][] {
  const reports: [string, boolean][] = [];
  const original = balancer.reportCheck.bind(balancer);
  balancer.reportCheck = (id, ok) => {
    reports.push([id, ok]);
    original(id, ok);
  };
  return reports;
}

/** An upstream that holds every request it gets, a balancer over it, and its check reports. */
async function holdingUpstream() {
  const held: ServerResponse[] = [];
  let closedSockets = 0;
  const up = await listen((req, res) => {
    req.socket.once('close', () => (closedSockets += 1));
    held.push(res);
  });
  const balancer = createBalancer({ instances: [{ id: 'x', url: up.url }] });
  return { held, closed: () => closedSockets, balancer, reports: recordReports(balancer), up };
}

describe('instances removed or re-added while a probe is in flight', () => {
  it('a removed instance: its probe is aborted (socket closed) and never reports', async () => {
    const { held, closed, balancer, reports, up } = await holdingUpstream();
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 20, timeoutMs: 2_000, unhealthyThreshold: 1 },
    });
    try {
      await until(() => held.length === 1, 2_000, 'a probe in flight');
      balancer.remove('x');
      await until(() => closed() === 1, 2_000, 'the probe socket to close');
      held[0]!.statusCode = 500;
      held[0]!.end();
      await sleep(200);
      expect(reports).toEqual([]);
      expect(up.received).toHaveLength(1);
    } finally {
      await proxy.close();
      balancer.close();
    }
  });

  it("a re-added instance (same id, same URL): the old probe's late 500 is not applied to the new one", async () => {
    const held: ServerResponse[] = [];
    const up = await listen((req, res) => {
      if (held.length === 0) held.push(res);
      else res.end('ok'); // every later probe passes
    });
    const balancer = createBalancer({ instances: [{ id: 'x', url: up.url }] });
    const reports = recordReports(balancer);
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 30, timeoutMs: 2_000, unhealthyThreshold: 1 },
    });
    try {
      await until(() => held.length === 1, 2_000, 'a probe in flight');
      balancer.remove('x');
      balancer.add({ id: 'x', url: up.url });
      held[0]!.statusCode = 500;
      held[0]!.end();
      await until(() => up.received.length >= 3, 2_000, 'probes of the new instance');
      expect(reports).toEqual([]);
      expect(balancer.get('x')!.state).not.toBe('unhealthy');
    } finally {
      await proxy.close();
      balancer.close();
    }
  });

  it('an instance whose URL changes under the same id (discovery): probes go to the new URL only', async () => {
    const oldUp = await listen((_req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const newUp = await listen((_req, res) => res.end('ok'));
    let sink: { update(list: unknown[]): void } | undefined;
    const balancer = createBalancer({
      discovery: { name: 'test', subscribe: (s) => ((sink = s), () => {}) },
    });
    const reports = recordReports(balancer);
    sink!.update([{ id: 'x', url: oldUp.url }]);
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 20, timeoutMs: 500, unhealthyThreshold: 2, healthyThreshold: 2 },
    });
    try {
      await until(() => balancer.get('x')?.state === 'unhealthy', 2_000, 'x out on the old URL');
      sink!.update([{ id: 'x', url: newUp.url }]);
      const atSwitch = oldUp.received.length;
      await until(() => newUp.received.length >= 3, 2_000, 'probes of the new URL');
      expect(oldUp.received.length).toBe(atSwitch);
      expect(balancer.get('x')!.state).not.toBe('unhealthy');
      expect(reports.filter(([, ok]) => !ok)).toHaveLength(1);
    } finally {
      await proxy.close();
      balancer.close();
    }
  });
});

describe('close() while a probe is in flight', () => {
  it('aborts it: no report after close, the upstream sees its socket closed', async () => {
    const { held, closed, balancer, reports } = await holdingUpstream();
    const proxy = createProxy(balancer, {
      healthCheck: { intervalMs: 20, timeoutMs: 5_000, unhealthyThreshold: 1 },
    });
    await until(() => held.length === 1, 2_000, 'a probe in flight');
    const started = Date.now();
    await proxy.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    await until(() => closed() === 1, 1_000, 'the probe socket to close');
    await sleep(100);
    expect(reports).toEqual([]);
    balancer.close();
  });
});
