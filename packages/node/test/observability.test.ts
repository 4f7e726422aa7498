import diagnostics from 'node:diagnostics_channel';
import { createBalancer, type BalancerEvents, type Logger } from '@ballast/core';
import { createProxy, DIAGNOSTICS_CHANNELS, type DiagnosticsInstanceMessage } from '../src';
import { cleanup, deadUrl, gateway, listen, named, send, until } from './helpers';

afterEach(cleanup);

interface Line {
  level: keyof Logger;
  msg: string | undefined;
  fields: Record<string, unknown>;
}

/** A pino-compatible logger that keeps every line. */
function capture(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at =
    (level: keyof Logger) =>
    (fields: object, msg?: string): void => {
      lines.push({ level, msg, fields: fields as Record<string, unknown> });
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Subscribes to a channel for the length of a test; `stop()` unsubscribes. */
function listenTo<T>(name: string): { messages: T[]; stop(): void } {
  const messages: T[] = [];
  const onMessage = (message: unknown): void => {
    messages.push(message as T);
  };
  diagnostics.subscribe(name, onMessage);
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    diagnostics.unsubscribe(name, onMessage);
  };
  subscriptions.push(stop);
  return { messages, stop };
}

const subscriptions: (() => void)[] = [];
afterEach(() => {
  while (subscriptions.length > 0) subscriptions.pop()!();
});

describe('node:diagnostics_channel', () => {
  it('subscribes to no per-request event while nobody listens on ballast:pick or ballast:release', async () => {
    const a = await named('a');
    const balancer = createBalancer({ instances: [a.url] });
    const on = jest.spyOn(balancer, 'on');
    const { url } = await gateway(balancer);
    for (let i = 0; i < 3; i++) expect((await send(url)).status).toBe(200);
    const events = on.mock.calls.map(([event]) => event);
    expect(events).not.toContain('pick');
    expect(events).not.toContain('release');
    // Instance events, rare, are followed from the start.
    expect(events).toContain('eject');
    balancer.close();
  });

  it('publishes each pick and release of a proxied request, once even with two proxies on one balancer', async () => {
    const a = await named('a');
    const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: a.url }] });
    const picks = listenTo<BalancerEvents['pick']>(DIAGNOSTICS_CHANNELS.pick);
    const releases = listenTo<BalancerEvents['release']>(DIAGNOSTICS_CHANNELS.release);
    const first = await gateway(balancer);
    const second = await gateway(balancer);

    expect((await send(first.url)).text).toBe('a');
    expect((await send(second.url)).text).toBe('a');
    await until(() => releases.messages.length === 2, 2_000, 'two releases');
    expect(picks.messages.map((m) => [m.service, m.lease.instance.id])).toEqual([
      ['users', 'a'],
      ['users', 'a'],
    ]);
    expect(releases.messages.map((m) => [m.service, m.instance.id, m.outcome.ok, m.outcome.status])).toEqual([
      ['users', 'a', true, 200],
      ['users', 'a', true, 200],
    ]);

    // Unsubscribed: the next request notices and the balancer stops emitting for the channel.
    picks.stop();
    releases.stop();
    const off = jest.spyOn(balancer, 'off');
    expect((await send(first.url)).status).toBe(200);
    expect(off.mock.calls.map(([event]) => event).sort()).toEqual(['pick', 'release']);
    balancer.close();
  });

  it('publishes instance changes on ballast:instance, and nothing after the proxy is closed', async () => {
    const failing = await listen((_req, res) => {
      res.statusCode = 500;
      res.end('down');
    });
    const a = await named('a');
    const instances = listenTo<DiagnosticsInstanceMessage>(DIAGNOSTICS_CHANNELS.instance);
    const balancer = createBalancer({
      service: 'orders',
      strategy: 'round-robin',
      instances: [
        { id: 'bad', url: failing.url },
        { id: 'a', url: a.url },
        { id: 'a2', url: a.url },
      ],
      health: { outlier: { consecutiveFailures: 2 } },
    });
    const proxy = createProxy(balancer, { retries: 0 });
    const { url } = await gateway(balancer, { retries: 0 });
    for (let i = 0; i < 6; i++) await send(url);
    await until(() => instances.messages.some((m) => m.event === 'eject'), 2_000, 'an ejection');
    const eject = instances.messages.find((m) => m.event === 'eject')!;
    expect(eject).toMatchObject({ event: 'eject', service: 'orders', reason: 'consecutive-failures' });
    expect(eject.instance.id).toBe('bad');
    // Published once, though two proxies use the balancer.
    expect(instances.messages.filter((m) => m.event === 'eject')).toHaveLength(1);

    balancer.remove('a2');
    expect(instances.messages.at(-1)).toMatchObject({ event: 'instance-removed', service: 'orders' });

    await proxy.close();
    await cleanup();
    const seen = instances.messages.length;
    balancer.add({ id: 'late', url: a.url });
    expect(instances.messages).toHaveLength(seen);
    balancer.close();
  });
});

describe('retries through the balancer', () => {
  it("reports each retry as the balancer's retry event, naming the instance retried on", async () => {
    const dead = await deadUrl();
    const a = await named('a');
    const balancer = createBalancer({
      strategy: { name: 'first', pick: (candidates) => candidates[0] },
      instances: [
        { id: 'dead', url: dead },
        { id: 'a', url: a.url },
      ],
    });
    const retries: BalancerEvents['retry'][] = [];
    balancer.on('retry', (event) => retries.push(event));
    const { url } = await gateway(balancer);
    expect((await send(url)).text).toBe('a');
    expect(retries.map((r) => r.lease.instance.id)).toEqual(['a']);
    balancer.close();
  });
});

describe('logs', () => {
  it('logs health-check state changes at warn and info with service, instance and reason', async () => {
    let healthy = true;
    const b = await listen((req, res) => {
      res.statusCode = req.url === '/health' && !healthy ? 500 : 200;
      res.end('b');
    });
    const logger = capture();
    const { proxy } = await gateway(
      { service: 'users', instances: [{ id: 'b', url: b.url }], logger },
      { healthCheck: { intervalMs: 20, timeoutMs: 500, unhealthyThreshold: 1, healthyThreshold: 1 } },
    );
    healthy = false;
    await until(() => proxy.balancer.get('b')!.state === 'unhealthy', 5_000, 'b to be taken out');
    healthy = true;
    await until(() => proxy.balancer.get('b')!.state !== 'unhealthy', 5_000, 'b to come back');

    const failing = logger.lines.find((l) => l.msg === 'ballast: health check failing');
    expect(failing).toMatchObject({
      level: 'warn',
      fields: { service: 'users', instance: 'b', reason: 'check-failed' },
    });
    const passing = logger.lines.find((l) => l.msg === 'ballast: health check passing again');
    expect(passing).toMatchObject({
      level: 'info',
      fields: { service: 'users', instance: 'b', reason: 'check-passed' },
    });
    const changes = logger.lines.filter((l) => l.msg === 'ballast: instance state changed');
    expect(changes[0]).toMatchObject({
      level: 'warn',
      fields: { service: 'users', instance: 'b', to: 'unhealthy' },
    });
    expect(changes.at(-1)!.level).toBe('info');
    for (const line of changes) expect(typeof line.fields.reason).toBe('string');
  });

  it('logs per-request detail only at debug: a served request and a failed one leave no info line', async () => {
    const a = await named('a');
    const logger = capture();
    const { url, proxy } = await gateway({ service: 'users', instances: [{ id: 'a', url: a.url }], logger });
    for (let i = 0; i < 5; i++) expect((await send(url)).status).toBe(200);
    expect(logger.lines).toEqual([]);

    await a.kill();
    const failed = await send(url);
    expect([502, 503]).toContain(failed.status);
    expect(logger.lines.filter((l) => l.msg === 'ballast: proxy error')).toEqual([
      expect.objectContaining({ level: 'debug', fields: expect.objectContaining({ service: 'users' }) }),
    ]);
    // What is not debug is a state change and says which instance and why.
    for (const line of logger.lines.filter((l) => l.level !== 'debug')) {
      expect(line.fields).toMatchObject({ service: 'users', instance: 'a' });
      expect(typeof line.fields.reason).toBe('string');
    }
    expect(proxy.balancer.service).toBe('users');
  });
});
