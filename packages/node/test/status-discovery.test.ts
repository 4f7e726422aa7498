import { createBalancer, type Discovery, type DiscoverySink } from '@ballast/core';
import { createStatusHandler } from '../src';

test('the status snapshot carries the discovery state, and a failing source raises the service to warn', () => {
  let sink: DiscoverySink | undefined;
  const source: Discovery = {
    name: 'dns:SRV:_http._tcp.users.test',
    subscribe(s) {
      sink = s;
      return () => {};
    },
  };
  const balancer = createBalancer({ service: 'users', discovery: source });
  const handler = createStatusHandler(balancer);
  try {
    expect(handler.snapshot().services[0]).toMatchObject({
      level: 'ok',
      discovery: { source: 'dns:SRV:_http._tcp.users.test', state: 'pending', instances: 0 },
    });
    sink!.update([{ id: 'a', url: 'http://127.0.0.1:1' }]);
    expect(handler.snapshot().services[0]).toMatchObject({
      level: 'ok',
      discovery: { state: 'ok', instances: 1 },
    });
    sink!.error(new Error('SERVFAIL'));
    expect(handler.snapshot().services[0]).toMatchObject({
      level: 'warn',
      discovery: { state: 'failing', instances: 1, lastError: 'SERVFAIL' },
    });
    expect(handler.snapshot().services[0]!.instances.map((i) => i.id)).toEqual(['a']);
  } finally {
    handler.close();
    balancer.close();
  }
});

test('a balancer without discovery has no discovery field in its status', () => {
  const balancer = createBalancer({ instances: ['http://127.0.0.1:1'] });
  const handler = createStatusHandler(balancer);
  expect(handler.snapshot().services[0]).not.toHaveProperty('discovery');
  handler.close();
  balancer.close();
});
