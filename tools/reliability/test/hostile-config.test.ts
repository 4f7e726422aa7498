/**
 * Hostile configuration: 10 000 generated option objects for each entry point a user configures
 * (core's `createBalancer`, `@ballast/node`'s `createProxy`, the Express and Koa `balancer()`,
 * axios's `withBalancer()` and the options of NestJS's `BallastModule`).
 * Each one either works (and is closed again) or throws a `BallastError` with code
 * `BALLAST_INVALID_CONFIG` whose `field` is named in its message. Anything else escaping (a
 * TypeError from deep inside, a RangeError from a timer, a hang) fails the property.
 *
 * Values come from three sources: anything fast-check makes (nested objects, arrays with holes,
 * null prototypes, boxed values, typed arrays, Maps, Dates, BigInts), a list of classic troublemakers
 * (NaN, ±Infinity, -0, 2^31, 1e308, empty and huge strings, `__proto__`, symbols, functions that
 * throw or return nonsense), and valid values, put under the real option names so that the
 * validation of every field is reached. Instance URLs are loopback only: nothing leaves the machine.
 */
import {
  BallastError,
  createBalancer,
  STRATEGY_NAMES,
  type Balancer,
  type BalancerOptions,
} from '@ballast/core';
import { balancerOf, detachBalancer, withBalancer, type WithBalancerOptions } from '@ballast/axios';
import { balancer as expressBalancer } from '@ballast/express';
import { balancer as koaBalancer } from '@ballast/koa';
import { BallastService, type BallastModuleOptions } from '@ballast/nestjs';
import { Logger } from '@nestjs/common';
import { createProxy, type ProxyOptions } from '@ballast/node';
import axios from 'axios';
import fc from 'fast-check';

const RUNS = 10_000;

const boom = () => {
  throw new Error('boom');
};
const TROUBLE: unknown[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  -1,
  0.5,
  2 ** 31,
  2 ** 53,
  1e308,
  Number.MIN_VALUE,
  '',
  ' ',
  'x'.repeat(10_000),
  '__proto__',
  'constructor',
  'NaN',
  '1e3',
  null,
  true,
  [],
  [undefined],
  {},
  Object.create(null),
  Symbol('option'),
  10n,
  new Date(Number.NaN),
  /regex/,
  boom,
  () => Number.NaN,
  () => -1,
  () => 'not a number',
  () => undefined,
];

/** A hostile value: anything, a classic troublemaker, or a valid-looking scalar. */
const hostile: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TROUBLE) },
  {
    weight: 2,
    arbitrary: fc.anything({
      maxDepth: 2,
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withSparseArray: true,
      withTypedArray: true,
    }),
  },
  { weight: 2, arbitrary: fc.oneof(fc.double(), fc.integer(), fc.string({ maxLength: 12 }), fc.boolean()) },
);

/** Either a hostile value or one of `valid` (so that validation goes past this field). */
const field = (...valid: unknown[]) =>
  valid.length === 0 ? hostile : fc.oneof(fc.constantFrom(...valid), hostile);

/** An options object over `shape`'s keys, each present or not, plus now and then a stray key. */
function options(shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 8, arbitrary: fc.record(shape, { requiredKeys: [] }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.record(shape, { requiredKeys: [] }), fc.string({ maxLength: 8 }), hostile)
        .map(([record, key, value]) => ({ ...record, [key]: value })),
    },
    { weight: 1, arbitrary: hostile },
  );
}

const loopback = fc.integer({ min: 1, max: 65_535 }).map((port) => `http://127.0.0.1:${port}`);
const instance = fc.oneof(
  loopback,
  options({
    url: fc.oneof(
      loopback,
      hostile,
      fc.constantFrom('http://127.0.0.1:1/base/', 'ftp://127.0.0.1', 'http://[::1'),
    ),
    id: field('a', 'b'),
    weight: field(1, 2.5, 100),
    zone: field('z1'),
    metadata: field({ region: 'eu' }, { region: 5 }, { ['k'.repeat(200)]: 'v' }),
  }),
  hostile,
);
const health = options({
  threshold: field(0, 0.5, 1),
  panicThreshold: field(0.3),
  failOnPanic: field(false),
  window: field(10),
  recoveryHalfLifeMs: field(1_000),
  latencyFactor: field(2),
  outlier: field(
    false,
    { consecutiveFailures: 3, intervalMs: 500 },
    { baseEjectionMs: 10, maxEjectionMs: 5 },
  ),
  slowStart: field(false, { windowMs: 500 }),
  load: field({ blackoutMs: 0 }),
});
const balancerOptions: fc.Arbitrary<unknown> = options({
  service: field('users'),
  instances: fc.oneof(fc.array(instance, { maxLength: 4 }), hostile),
  strategy: fc.oneof(
    fc.constantFrom(...STRATEGY_NAMES),
    fc
      .constantFrom(...STRATEGY_NAMES)
      .chain((name) =>
        options({ name: fc.constant(name), decayMs: hostile, tableSize: hostile, smoothing: hostile }),
      ),
    hostile,
  ),
  health,
  clock: field(() => 0),
  random: field(() => 0.5),
  logger: field({ info() {} }, { debug: 5 }),
});
const proxyOptions: fc.Arbitrary<unknown> = options({
  retries: field(0, 2),
  retryMethods: field(['GET'], ['g e t'], [5]),
  replayBufferBytes: field(1024),
  bufferResponseBytes: field(0, 65_536),
  retryBudget: field(false, { ratio: 0.5 }, { ratio: 2 }),
  connectTimeoutMs: field(500),
  timeoutMs: field(1_000),
  idleTimeoutMs: field(1_000),
  connections: field(8),
  earlyCloseLimit: field(false, 3),
  xForwarded: field(true),
  changeOrigin: field(false),
  pathRewrite: field({ '^/api': '' }, { '(': '' }, { '^/x': 5 }, (path: string) => path),
  key: field((): string => 'k'),
  onProxyRequest: field(() => undefined),
  onProxyResponse: field(() => undefined),
  onError: field(() => undefined),
  healthCheck: field(false, { intervalMs: 60_000 }, { path: 'no-slash' }, { expectStatus: [200, 99] }),
  logger: field({ warn() {} }),
});

/** `withBalancer` options: its own, under their real names, and anything else. */
const axiosOptions: fc.Arbitrary<unknown> = options({
  retries: field(0, 2),
  key: field((): string => 'k'),
  logger: field({ warn() {} }),
});

/** `BallastModule` options: services of balancer options, with the module's own fields. */
const nestOptions: fc.Arbitrary<unknown> = options({
  services: field({}, { users: {} }),
  logger: field({ warn() {} }),
  statusPage: field(false, { path: '/ballast' }, { path: 'no-slash' }),
}).chain((base) =>
  fc.oneof(
    fc.constant(base),
    fc
      .record({ users: balancerOptions, orders: balancerOptions })
      .map((services) =>
        typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base, services } : base,
      ),
  ),
);

/** An axios instance balanced by `withBalancer`, owning its balancer. */
function balancedAxios(target: unknown, options: unknown): Made {
  const client = withBalancer(axios.create(), target as BalancerOptions, options as WithBalancerOptions);
  return { balancer: balancerOf(client)!, close: () => detachBalancer(client) };
}

/** The service BallastModule builds from its options, with its first balancer. */
function nestService(options: unknown): Made {
  const service = new BallastService(options as BallastModuleOptions, undefined as never);
  const [first] = service.names();
  const balancer = first === undefined ? createBalancer({ instances: [] }) : service.get(first);
  return {
    balancer,
    close: async () => {
      await service.onApplicationShutdown();
      if (first === undefined) balancer.close();
    },
  };
}

/** What each entry point returns: a balancer, or something that owns one. */
type Made = { close(): unknown } & ({ pick: Balancer['pick'] } | { balancer: Balancer });

/**
 * The verdict on one call: it worked, answered one pick and release (or refused the pick with a
 * BallastError, as an empty pool does) and was closed; or it threw a well-formed config error.
 */
async function judge(make: () => Made): Promise<void> {
  let made: Made;
  try {
    made = make();
  } catch (error) {
    if (!(error instanceof BallastError)) throw new Error(`escaped: ${String(error)}`, { cause: error });
    expect(error.code).toBe('BALLAST_INVALID_CONFIG');
    const name = (error as BallastError & { field?: unknown }).field;
    expect(typeof name).toBe('string');
    expect((name as string).length).toBeGreaterThan(0);
    expect(error.message).toContain(name as string);
    return;
  }
  const balancer = 'balancer' in made ? made.balancer : made;
  try {
    balancer.pick({ key: 'user-1' }).release({ ok: true, latencyMs: 1 });
  } catch (error) {
    if (!(error instanceof BallastError)) throw new Error(`pick escaped: ${String(error)}`, { cause: error });
  } finally {
    await made.close();
  }
}

describe('hostile configuration', () => {
  const saved = process.env.BALLAST_INSTANCES;
  beforeAll(() => {
    delete process.env.BALLAST_INSTANCES;
    // Without a logger option, BallastService logs through Nest's; quiet, as in a test app.
    Logger.overrideLogger(false);
  });
  afterAll(() => {
    if (saved !== undefined) process.env.BALLAST_INSTANCES = saved;
  });

  const optionalBalancer = fc.option(balancerOptions, { nil: undefined });
  type Entry = [string, fc.Arbitrary<unknown>, fc.Arbitrary<unknown>, (b: unknown, p: unknown) => Made];
  const ENTRY_POINTS: Entry[] = [
    ['createBalancer', balancerOptions, proxyOptions, (b) => createBalancer(b as BalancerOptions)],
    [
      'createProxy',
      balancerOptions,
      proxyOptions,
      (b, p) => createProxy(b as BalancerOptions, p as ProxyOptions),
    ],
    [
      'Express balancer()',
      optionalBalancer,
      proxyOptions,
      (b, p) => expressBalancer(b as BalancerOptions, p as never),
    ],
    [
      'Koa balancer()',
      optionalBalancer,
      proxyOptions,
      (b, p) => koaBalancer(b as BalancerOptions, p as never),
    ],
    ['axios withBalancer()', balancerOptions, axiosOptions, (b, p) => balancedAxios(b, p)],
    // What BallastModule.forRoot() hands its service: the module options, validated at startup.
    ['NestJS BallastModule options', nestOptions, fc.constant(undefined), (o) => nestService(o)],
  ];

  test.each(ENTRY_POINTS)(
    '%s',
    async (_name, target, second, make) => {
      await fc.assert(
        fc.asyncProperty(target, second, (b, p) => judge(() => make(b, p))),
        { numRuns: RUNS },
      );
    },
    120_000,
  );
});
