import { createBalancer, type Balancer, type PickContext } from '@ballast/core';
import { failOnProcessErrors, inflight } from '@ballast/testing';
import axios from 'axios';
import axiosRetry from 'axios-retry';

import { withBalancer } from '../src';
import { useFixtures } from './fixtures';

// A config sent again (axios-retry's retries, or a caller re-sending `response.config`) carries
// the balanced request with it. Only a retry should avoid the instances that failed; the list
// must neither outlive a success nor grow without bound.

const fixtures = useFixtures();
failOnProcessErrors();

const serve = fixtures.serve;
const rr = (instances: string[]): Balancer => fixtures.balancerOver(instances);

test('a response.config sent again after a retried request goes where the balancer says again, not away from the instance that failed once', async () => {
  // Consistent hashing on one key sends every pick to the same instance, unless the request
  // excludes it: only a retry should.
  let failNext = true;
  const urls = await Promise.all(
    ['a', 'b'].map((name) =>
      serve((req, res) => {
        req.resume();
        if (req.url === `/fail-once/${name}` && failNext) {
          failNext = false;
          res.writeHead(503).end();
        } else res.end(name);
      }),
    ),
  );
  const b = createBalancer({
    service: 's',
    instances: urls,
    strategy: 'consistent-hash',
    health: { outlier: false, slowStart: false },
  });
  fixtures.balancers.push(b);
  const hashed = b.pick({ key: 'k' });
  hashed.release({ ok: true });
  const name = urls.indexOf(hashed.instance.url.replace(/\/$/, '')) === 0 ? 'a' : 'b';
  const client = withBalancer(axios.create(), b, { retries: 1, key: () => 'k' });

  const first = await client.get<string>(`/fail-once/${name}`); // the hashed instance: 503, retried on the other
  expect(first.data).not.toBe(name);
  const again: string[] = [];
  for (let i = 0; i < 3; i++) again.push((await client.request<string>(first.config)).data);

  expect(again).toEqual([name, name, name]);
  expect(inflight(b)).toBe(0);
});

test('axios-retry sending one request many times: the exclude list never holds an instance twice', async () => {
  const urls = await Promise.all(
    [0, 1].map(() =>
      serve((req, res) => {
        req.resume();
        res.writeHead(503).end();
      }),
    ),
  );
  const b = rr(urls);
  const excludes: number[] = [];
  const pick = b.pick.bind(b);
  jest.spyOn(b, 'pick').mockImplementation((context?: PickContext) => {
    excludes.push([...(context?.exclude ?? [])].length);
    return pick(context);
  });
  const client = withBalancer(axios.create(), b, { retries: 1 });
  axiosRetry(client, { retries: 8, retryDelay: () => 0 });

  await expect(client.get('/x')).rejects.toMatchObject({ response: { status: 503 } });

  expect(excludes.length).toBeGreaterThan(9);
  expect(Math.max(...excludes)).toBe(2);
  expect(inflight(b)).toBe(0);
});

test('every sending of one response.config is balanced, under a lease, not only the first one again', async () => {
  const urls = await Promise.all(
    ['a', 'b'].map((name) =>
      serve((req, res) => {
        req.resume();
        res.end(name);
      }),
    ),
  );
  const b = rr(urls);
  let picks = 0;
  b.on('pick', () => (picks += 1));
  const client = withBalancer(axios.create(), b, { retries: 0 });

  const first = await client.get<string>('/x');
  const again: string[] = [];
  for (let i = 0; i < 4; i++) again.push((await client.request<string>(first.config)).data);

  expect(picks).toBe(5);
  expect(again.sort()).toEqual(['a', 'a', 'b', 'b']);
  expect(b.snapshot().instances.map((i) => i.requests)).toEqual([3, 2]);
});
