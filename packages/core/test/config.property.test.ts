/**
 * Any invalid configuration throws a `BallastError` (`BALLAST_INVALID_CONFIG`) naming the field,
 * and nothing else: no TypeError from deep inside, no silent acceptance.
 *
 * Two kinds of input. Structured near-valid options are built part by part, each part either
 * valid or carrying a known fault whose field path the generator records; then a configuration
 * without faults must construct, and one with faults must throw an `InvalidConfigError` whose
 * `field` is one of the recorded paths (which one depends on validation order). Arbitrary values
 * (`fc.anything()`, alone or under the real option names) must either construct or throw such an
 * error; either way `field` is non-empty and appears in the message. A configuration that
 * constructs is then used once (pick, release, close).
 */
import fc from 'fast-check';
import {
  BallastError,
  InvalidConfigError,
  createBalancer,
  seededRandom,
  type Balancer,
  type BalancerOptions,
  STRATEGY_NAMES,
} from '../src';

// ---------------------------------------------------------------------------------------------
// Tagged parts: a value and the field paths, relative to the part, that make it invalid.

interface Part {
  readonly value: unknown;
  /** Relative paths ('' = the part itself, '.weight', '[2].url'...) of the faults it carries. */
  readonly faults: readonly string[];
}

const valid = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<Part> => arb.map((value) => ({ value, faults: [] }));
const invalid = (arb: fc.Arbitrary<unknown>, path = ''): fc.Arbitrary<Part> =>
  arb.map((value) => ({ value, faults: [path] }));
/**
 * Mostly valid, now and then not. A configuration has a few dozen parts, so a fault in one of
 * 30 keeps about a third of the configurations valid.
 */
const mostly = (good: fc.Arbitrary<Part>, bad: fc.Arbitrary<Part>): fc.Arbitrary<Part> =>
  fc.oneof({ weight: 29, arbitrary: good }, { weight: 1, arbitrary: bad });

/** An options object from optional parts, with faults prefixed by their key. */
function objectOf(parts: Record<string, fc.Arbitrary<Part>>): fc.Arbitrary<Part> {
  return fc.record(parts, { requiredKeys: [] }).map((record) => {
    const value: Record<string, unknown> = {};
    const faults: string[] = [];
    for (const [key, part] of Object.entries(record) as [string, Part][]) {
      value[key] = part.value;
      faults.push(...part.faults.map((f) => `.${key}${f}`));
    }
    return { value, faults };
  });
}

/** Adds now and then an unknown key, which is a fault at its own path. */
function withUnknownKey(object: fc.Arbitrary<Part>, names: readonly string[]): fc.Arbitrary<Part> {
  return fc
    .tuple(
      object,
      fc.oneof(
        { weight: 29, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...names), fc.anything({ maxDepth: 1 })) },
      ),
    )
    .map(([part, extra]) => {
      if (extra === null || !isRecord(part.value)) return part;
      const [key, value] = extra;
      return { value: { ...part.value, [key]: value }, faults: [...part.faults, `.${key}`] };
    });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const NON_NUMBERS = fc.constantFrom<unknown>('1', null, true, [], {}, 1n);
const NON_STRINGS = fc.constantFrom<unknown>(5, null, true, [], {}, ['a']);
const NON_FUNCTIONS = fc.constantFrom<unknown>(5, 'fn', null, true, [], {}, Symbol('clock'));
const NON_OBJECTS = fc.constantFrom<unknown>(5, 'x', true, [], [1], 0n);

const positive = (max = 1e6) =>
  mostly(
    valid(fc.oneof(fc.double({ min: 1e-3, max, noNaN: true }), fc.constantFrom(Number.MIN_VALUE, 1))),
    invalid(
      fc.oneof(
        fc.constantFrom(0, -0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
        NON_NUMBERS,
      ),
    ),
  );
const nonNegative = (max = 1e6) =>
  mostly(
    valid(fc.double({ min: 0, max, noNaN: true })),
    invalid(fc.oneof(fc.constantFrom(-1, -1e-9, Number.NaN, Number.POSITIVE_INFINITY), NON_NUMBERS)),
  );
const integer = (min: number, max: number) =>
  mostly(
    valid(fc.integer({ min, max })),
    invalid(
      fc.oneof(
        fc.constantFrom(min - 1, max + 1, min + 0.5, Number.NaN, Number.POSITIVE_INFINITY),
        NON_NUMBERS,
      ),
    ),
  );
const fraction = () =>
  mostly(
    valid(fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 1))),
    invalid(fc.oneof(fc.constantFrom(-0.01, 1.01, 2, Number.NaN, Number.POSITIVE_INFINITY, -1), NON_NUMBERS)),
  );
const positiveFraction = () =>
  mostly(
    valid(fc.oneof(fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }), fc.constant(1))),
    invalid(fc.oneof(fc.constantFrom(0, -0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY), NON_NUMBERS)),
  );
const boolean = () => mostly(valid(fc.boolean()), invalid(fc.constantFrom<unknown>(0, 1, 'true', null, [])));

// ---------------------------------------------------------------------------------------------
// Instances

const GOOD_URLS = [
  'http://10.0.0.1:8080',
  'http://10.0.0.2:8080/api',
  'https://svc-a.internal',
  'https://svc-b.internal:8443/v1/',
  'HTTP://UPPER.example',
  'http://[::1]:3000',
];
const BAD_URLS = [
  'ftp://files.example/x',
  'relative/path',
  '/absolute/path',
  '//no-scheme.example',
  'http://user:secret@host.example',
  'https://user@host.example',
  'http://:pw@host.example',
  '',
  'http://',
  'mailto:ops@example.com',
  'javascript:alert(1)',
  'file:///etc/passwd',
  'ws://socket.example',
  'http://[::1',
  'http://exa mple.com',
  `http://long.example/${'x'.repeat(2100)}`,
];

const goodUrl = fc.oneof(
  fc.integer({ min: 0, max: 255 }).map((n) => `http://10.0.${n}.1:8080`),
  fc.constantFrom(...GOOD_URLS),
);
const urlPart = mostly(valid(goodUrl), invalid(fc.oneof(fc.constantFrom(...BAD_URLS), NON_STRINGS)));

const weightPart = mostly(
  valid(
    fc.oneof(
      fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
      fc.integer({ min: 1, max: 100 }),
      fc.constantFrom(1e-6, 1e6),
    ),
  ),
  invalid(
    fc.oneof(
      fc.constantFrom(
        0,
        -0,
        Number.MIN_VALUE,
        1e-7,
        -1,
        -1e6,
        1e6 + 1,
        1e300,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
      ),
      NON_NUMBERS,
    ),
  ),
);

const boundedString = (max: number) =>
  mostly(
    valid(
      fc.oneof(
        {
          weight: 9,
          arbitrary: fc
            .tuple(fc.string({ minLength: 1, maxLength: 8 }), fc.nat())
            .map(([s, n]) => `${s}${n}`),
        },
        { weight: 1, arbitrary: fc.nat({ max: 9 }).map((n) => `${n}`.padEnd(max, 'x')) },
      ),
    ),
    invalid(fc.oneof(fc.constantFrom<unknown>('', 'x'.repeat(max + 1)), NON_STRINGS)),
  );

const META_KEYS = ['region', 'tier', 'rack', 'version'];

const metadataPart: fc.Arbitrary<Part> = fc.oneof(
  // Flat string labels, some entries broken.
  {
    weight: 40,
    arbitrary: fc
      .array(
        fc.tuple(
          fc.oneof(
            { weight: 30, arbitrary: valid(fc.constantFrom(...META_KEYS)) },
            { weight: 1, arbitrary: invalid(fc.constantFrom('', 'k'.repeat(129))) },
          ),
          mostly(
            valid(fc.oneof(fc.string({ maxLength: 8 }), fc.constant('v'.repeat(1024)))),
            invalid(
              fc.oneof(
                fc.constantFrom<unknown>(5, null, true, undefined, ['a'], { nested: 'x' }, 'v'.repeat(1025)),
              ),
            ),
          ),
        ),
        { maxLength: 3 },
      )
      .map((entries) => {
        const value: Record<string, unknown> = {};
        const faults: string[] = [];
        for (const [key, item] of entries) {
          const name = key.value as string;
          if (Object.hasOwn(value, name)) continue;
          value[name] = item.value;
          // A bad key is reported (truncated) whatever its value; a good key with a bad value at its name.
          if (key.faults.length > 0) faults.push(`.${name.slice(0, 40)}`);
          else if (item.faults.length > 0) faults.push(`.${name}`);
        }
        return { value, faults };
      }),
  },
  {
    weight: 1,
    arbitrary: invalid(fc.constant(Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])))),
  },
  {
    weight: 1,
    arbitrary: valid(fc.constant(Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, 'v'])))),
  },
  { weight: 1, arbitrary: invalid(NON_OBJECTS) },
);

const instanceObjectPart = withUnknownKey(
  fc
    .tuple(
      urlPart,
      objectOf({
        id: boundedString(320),
        weight: weightPart,
        zone: boundedString(128),
        metadata: metadataPart,
      }),
      fc.boolean(),
    )
    .map(([url, rest, urlFirst]) => {
      const body = rest.value as Record<string, unknown>;
      const value = urlFirst ? { url: url.value, ...body } : { ...body, url: url.value };
      return { value, faults: [...url.faults.map((f) => `.url${f}`), ...rest.faults] };
    }),
  ['host', 'port', 'weigth', 'tags', ''],
);

const instancePart: fc.Arbitrary<Part> = fc.oneof(
  // A bare URL string is read as { url }.
  { weight: 10, arbitrary: mostly(valid(goodUrl), invalid(fc.constantFrom(...BAD_URLS), '.url')) },
  { weight: 30, arbitrary: instanceObjectPart },
  {
    weight: 1,
    arbitrary: invalid(
      fc.constantFrom<unknown>(5, null, undefined, true, ['http://a.example'], new Date(0), new Map()),
    ),
  },
);

/** The id an instance that passed validation ends up with. */
function idOf(input: unknown): string {
  if (typeof input === 'string') return new URL(input).origin;
  const record = input as { id?: string; url: string };
  return record.id ?? new URL(record.url).origin;
}

const instancesPart: fc.Arbitrary<Part> = fc.oneof(
  {
    weight: 30,
    arbitrary: fc
      .tuple(
        fc.array(instancePart, { maxLength: 6 }),
        fc.oneof({ weight: 19, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }),
      )
      .map(([items, hole]) => {
        const value: unknown[] = items.map((p) => p.value);
        const faults = items.flatMap((p, i) => p.faults.map((f) => `[${i}]${f}`));
        if (faults.length === 0) {
          // Ids are checked for duplicates once every instance parsed.
          const seen = new Set<string>();
          items.forEach((p, i) => {
            const id = idOf(p.value);
            if (seen.has(id)) faults.push(`[${i}].id`);
            seen.add(id);
          });
        }
        // A hole in a sparse array (`[a, , b]`, `new Array(n)`) is a missing instance.
        if (hole !== null && value.length > 0) {
          const i = hole % value.length;
          delete value[i];
          faults.push(`[${i}]`);
        }
        return { value, faults };
      }),
  },
  { weight: 1, arbitrary: valid(fc.constant(null)) },
  {
    weight: 1,
    arbitrary: invalid(fc.constantFrom<unknown>('http://10.0.0.1', 5, true, { 0: 'http://a.example' })),
  },
);

// ---------------------------------------------------------------------------------------------
// Strategy, health and the rest

const OPTION_TYPOS = ['name', 'foo', 'decay', 'DecayMs', ''];

const strategyPart: fc.Arbitrary<Part> = fc.oneof(
  {
    weight: 10,
    arbitrary: valid(fc.constantFrom(...STRATEGY_NAMES)),
  },
  {
    weight: 1,
    arbitrary: invalid(
      fc.constantFrom('roundrobin', 'Round-Robin', 'p2c', 'least_connections', '', 'ewma', 'maglev'),
    ),
  },
  {
    weight: 1,
    arbitrary: invalid(fc.constantFrom<unknown>(5, null, true, [], ['round-robin'], new Date(0))),
  },
  // { name, ...options }, with options for the named strategy, for another one, or misspelt.
  {
    weight: 20,
    arbitrary: fc
      .oneof(
        withUnknownKey(
          objectOf({ smoothMaxInstances: integer(1, 1e6) }),
          OPTION_TYPOS.filter((k) => k !== 'name'),
        ).map((p) => ({ name: 'weighted-round-robin', p })),
        withUnknownKey(
          objectOf({ decayMs: positive(), defaultRttMs: positive(), failurePenaltyMs: nonNegative() }),
          OPTION_TYPOS.filter((k) => k !== 'name'),
        ).map((p) => ({ name: 'peak-ewma', p })),
        withUnknownKey(
          objectOf({
            tableSize: mostly(
              valid(fc.integer({ min: 1, max: 5_000 })),
              invalid(fc.constantFrom<unknown>(0, -1, 1.5, 50_000_001, Number.NaN, '7')),
            ),
          }),
          OPTION_TYPOS.filter((k) => k !== 'name'),
        ).map((p) => ({ name: 'consistent-hash', p })),
        fc
          .constantFrom('round-robin', 'least-connections', 'power-of-two', 'random')
          .chain((name) =>
            withUnknownKey(objectOf({}), ['decayMs', 'tableSize', 'weights', '']).map((p) => ({ name, p })),
          ),
        objectOf({
          enterLatencyCv: positive(10),
          exitLatencyCv: nonNegative(10),
          minDwellMs: nonNegative(),
          sampleIntervalMs: positive(),
          smoothing: positiveFraction(),
        }).map((p) => {
          // exitLatencyCv must stay below enterLatencyCv (defaults 0.2 and 0.5) for hysteresis.
          const o = p.value as { enterLatencyCv?: unknown; exitLatencyCv?: unknown };
          const faults = [...p.faults];
          const enter = o.enterLatencyCv === undefined ? 0.5 : o.enterLatencyCv;
          const exit = o.exitLatencyCv === undefined ? 0.2 : o.exitLatencyCv;
          const enterOk = !faults.includes('.enterLatencyCv');
          const exitOk = !faults.includes('.exitLatencyCv');
          if (enterOk && exitOk && (exit as number) >= (enter as number)) faults.push('.exitLatencyCv');
          return { name: 'adaptive', p: { value: p.value, faults } };
        }),
      )
      .chain(({ name, p }) =>
        fc
          .oneof(
            { weight: 30, arbitrary: valid(fc.constant(name)) },
            {
              weight: 1,
              arbitrary: invalid(fc.constantFrom<unknown>('nope', 5, null, undefined, 'ROUND-ROBIN')),
            },
          )
          .map((n) => ({
            value: { name: n.value, ...(p.value as object) },
            // A bad name is found before any option is read.
            faults: n.faults.length > 0 ? ['.name'] : p.faults,
          })),
      ),
  },
  // A custom strategy: anything with pick(); its name, if any, must be a string.
  {
    weight: 1,
    arbitrary: fc.oneof(
      valid(
        fc.constantFrom<unknown>(
          { name: 'first', pick: (c: readonly unknown[]) => c[0] },
          { pick: (c: readonly unknown[]) => c[c.length - 1] },
        ),
      ),
      invalid(
        fc.constantFrom<unknown>({ name: 5, pick: () => undefined }, { name: null, pick: () => undefined }),
        '.name',
      ),
    ),
  },
);

const outlierPart: fc.Arbitrary<Part> = fc.oneof(
  { weight: 3, arbitrary: valid(fc.constantFrom(false, null, undefined)) },
  { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(true, 5, 'on', [])) },
  {
    weight: 16,
    arbitrary: withUnknownKey(
      objectOf({
        consecutiveFailures: integer(0, 1_000_000),
        intervalMs: positive(),
        baseEjectionMs: positive(10_000),
        maxEjectionMs: mostly(
          valid(fc.integer({ min: 10_000, max: 600_000 })),
          invalid(fc.constantFrom<unknown>(0, -1, Number.NaN, '60000')),
        ),
        maxEjectionPercent: integer(0, 100),
        successRate: fc.oneof(
          { weight: 3, arbitrary: valid(fc.constantFrom(false, null)) },
          { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(true, 1)) },
          {
            weight: 12,
            arbitrary: withUnknownKey(
              objectOf({
                stdevFactor: positive(),
                minimumHosts: integer(1, 1_000_000),
                requestVolume: integer(1, 1e9),
              }),
              ['factor', 'name'],
            ),
          },
        ),
        failurePercentage: fc.oneof(
          { weight: 3, arbitrary: valid(fc.constantFrom(false, null)) },
          { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(true, 1)) },
          {
            weight: 12,
            arbitrary: withUnknownKey(
              objectOf({
                threshold: integer(0, 100),
                minimumHosts: integer(1, 1_000_000),
                requestVolume: integer(1, 1e9),
              }),
              ['percent'],
            ),
          },
        ),
      }).map((p) => {
        // maxEjectionMs must be at least baseEjectionMs (default 30 000).
        const o = p.value as { baseEjectionMs?: unknown; maxEjectionMs?: unknown };
        const faults = [...p.faults];
        const base = o.baseEjectionMs === undefined ? 30_000 : o.baseEjectionMs;
        const max = o.maxEjectionMs === undefined ? 300_000 : o.maxEjectionMs;
        if (
          !faults.includes('.baseEjectionMs') &&
          !faults.includes('.maxEjectionMs') &&
          (max as number) < (base as number)
        ) {
          faults.push('.maxEjectionMs');
        }
        return { value: p.value, faults };
      }),
      ['interval', 'ejectionMs'],
    ),
  },
);

const healthPart: fc.Arbitrary<Part> = fc.oneof(
  { weight: 2, arbitrary: valid(fc.constantFrom(null, undefined)) },
  { weight: 1, arbitrary: invalid(NON_OBJECTS) },
  {
    weight: 20,
    arbitrary: withUnknownKey(
      objectOf({
        threshold: fraction(),
        panicThreshold: fraction(),
        failOnPanic: boolean(),
        window: integer(1, 100_000),
        recoveryHalfLifeMs: positive(),
        latencyFactor: positive(100),
        outlier: outlierPart,
        slowStart: fc.oneof(
          { weight: 3, arbitrary: valid(fc.constantFrom(false, null)) },
          { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(true, 30_000)) },
          {
            weight: 12,
            arbitrary: withUnknownKey(
              objectOf({ windowMs: positive(), aggression: positive(10), minWeightPercent: integer(1, 100) }),
              ['window'],
            ),
          },
        ),
        load: fc.oneof(
          { weight: 3, arbitrary: valid(fc.constant(undefined)) },
          { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(true, 5, [], null)) },
          {
            weight: 12,
            arbitrary: withUnknownKey(
              objectOf({
                blackoutMs: nonNegative(),
                expiryMs: positive(),
                errorUtilizationPenalty: nonNegative(10),
              }),
              ['expiry'],
            ),
          },
        ),
      }),
      ['name', 'treshold', 'timeoutMs', 'Threshold', ''],
    ),
  },
);

const loggerPart: fc.Arbitrary<Part> = fc.oneof(
  {
    weight: 18,
    arbitrary: valid(
      fc.constantFrom<unknown>(
        {},
        { info() {} },
        { debug() {}, info() {}, warn() {}, error() {} },
        {
          error() {
            throw new Error('broken logger');
          },
        },
      ),
    ),
  },
  { weight: 1, arbitrary: invalid(fc.constantFrom<unknown>(5, 'console', true, null)) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.constantFrom('debug', 'info', 'warn', 'error'),
        fc.constantFrom<unknown>('log', 5, true, {}, null, []),
      )
      .map(([level, method]) => ({ value: { info() {}, [level]: method }, faults: [`.${level}`] })),
  },
);

const optionsPart: fc.Arbitrary<Part> = withUnknownKey(
  objectOf({
    service: boundedString(128),
    instances: instancesPart,
    strategy: strategyPart,
    health: healthPart,
    clock: mostly(valid(fc.constant(() => 0)), invalid(NON_FUNCTIONS)),
    random: mostly(valid(fc.constantFrom(seededRandom(7), Math.random)), invalid(NON_FUNCTIONS)),
    logger: loggerPart,
  }),
  ['instance', 'strategies', 'timeoutMs', 'Health', 'retries', ''],
).map((p) => ({ value: p.value, faults: p.faults.map((f) => f.slice(1)) }));

// ---------------------------------------------------------------------------------------------
// The check

type Verdict = { ok: true } | { ok: false; field: string };

/** Constructs (and then uses once) or returns the field of the InvalidConfigError; anything else fails. */
function tryConfig(options: unknown): Verdict {
  let balancer: Balancer;
  try {
    balancer = createBalancer(options as BalancerOptions);
  } catch (error) {
    // Plain checks rather than expect(): this runs 10 000 times.
    if (!(error instanceof BallastError) || !(error instanceof InvalidConfigError)) {
      throw new Error(`threw ${describeError(error)} instead of an InvalidConfigError`, { cause: error });
    }
    if (error.code !== 'BALLAST_INVALID_CONFIG') throw new Error(`code ${error.code}`);
    if (typeof error.field !== 'string' || error.field.length === 0) {
      throw new Error(`InvalidConfigError without a field: ${error.message}`);
    }
    if (!error.message.includes(error.field))
      throw new Error(`message "${error.message}" does not name ${error.field}`);
    return { ok: false, field: error.field };
  }
  try {
    if (balancer.instances().length > 0) {
      const lease = balancer.pick();
      lease.release({ ok: true, latencyMs: 3 });
    }
  } catch (error) {
    if (!(error instanceof BallastError))
      throw new Error(`a valid configuration's first pick threw ${describeError(error)}`, { cause: error });
  } finally {
    balancer.close();
  }
  return { ok: true };
}

/**
 * Whether `actual` names the recorded fault. A key named "" is recorded as `parent.` (or '' at the
 * top level); a readable rendering such as `parent[""]` names it as well.
 */
function sameField(expected: string, actual: string): boolean {
  if (actual === expected) return true;
  if (expected !== '' && !expected.endsWith('.')) return false;
  const parent = expected.replace(/\.$/, '');
  return [`${parent}[""]`, `${parent}['']`, `${parent}.""`, `${parent}.''`, '""', "''"].includes(actual);
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

const anythingArb = fc.anything({
  maxDepth: 3,
  maxKeys: 6,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withSparseArray: true,
  withTypedArray: true,
});

/** Arbitrary values under the real option names. */
const looseOptionsArb = fc.record(
  {
    service: anythingArb,
    instances: fc.oneof(
      fc.array(anythingArb, { maxLength: 4 }),
      fc.sparseArray(fc.constantFrom<unknown>('http://10.0.0.9:80', { url: 'http://10.0.0.8:80' }), {
        maxLength: 4,
      }),
      anythingArb,
    ),
    strategy: anythingArb,
    health: fc.oneof(
      anythingArb,
      fc.dictionary(
        fc.constantFrom('threshold', 'window', 'outlier', 'slowStart', 'load', 'panicThreshold'),
        anythingArb,
        { maxKeys: 3 },
      ),
    ),
    clock: anythingArb,
    random: anythingArb,
    logger: anythingArb,
  },
  { requiredKeys: [] },
);

describe('createBalancer configuration', () => {
  it('constructs or throws an InvalidConfigError naming the field, for 10 000 generated option objects', () => {
    const fields = new Set<string>();
    let constructed = 0;
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          { weight: 6, arbitrary: optionsPart.map((p) => ({ structured: true as const, ...p })) },
          {
            weight: 2,
            arbitrary: looseOptionsArb.map((value) => ({
              structured: false as const,
              value,
              faults: [] as string[],
            })),
          },
          {
            weight: 1,
            arbitrary: anythingArb.map((value) => ({
              structured: false as const,
              value,
              faults: [] as string[],
            })),
          },
        ),
        ({ structured, value, faults }) => {
          const verdict = tryConfig(value);
          if (verdict.ok) constructed += 1;
          else {
            rejected += 1;
            fields.add(verdict.field.replace(/\[\d+\]/g, '[i]'));
          }
          if (!structured) return;
          if (faults.length === 0) {
            if (!verdict.ok) throw new Error(`a valid configuration was rejected at ${verdict.field}`);
          } else {
            if (verdict.ok) throw new Error(`accepted, though invalid at ${faults.join(', ')}`);
            if (!faults.some((f) => sameField(f, verdict.field))) {
              throw new Error(`rejected at ${verdict.field}, expected one of ${faults.join(', ')}`);
            }
          }
        },
      ),
      { numRuns: 10_000 },
    );
    // The generators reach both outcomes and most fields, so the property above is not vacuous.
    expect(constructed).toBeGreaterThan(1_000);
    expect(rejected).toBeGreaterThan(3_000);
    expect(fields.size).toBeGreaterThan(40);
  });
});

// ---------------------------------------------------------------------------------------------
// One invalid field at a time, with the exact path expected.

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';
const C = 'http://10.0.0.3:8080';
const sixtyFiveKeys = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));

const TABLE: ReadonlyArray<readonly [string, unknown, string]> = [
  ['options not an object', null, 'options'],
  ['options an array', [A], 'options'],
  ['unknown option', { instance: [A] }, 'instance'],
  ['service empty', { service: '' }, 'service'],
  ['service too long', { service: 's'.repeat(129) }, 'service'],
  ['instances not an array', { instances: A }, 'instances'],
  ['instance a number', { instances: [A, 5] }, 'instances[1]'],
  ['instance undefined', { instances: [undefined] }, 'instances[0]'],
  ['weight negative', { instances: [A, { url: B, weight: -1 }] }, 'instances[1].weight'],
  ['weight NaN', { instances: [A, { url: B, weight: Number.NaN }] }, 'instances[1].weight'],
  [
    'weight Infinity',
    { instances: [A, { url: B, weight: Number.POSITIVE_INFINITY }] },
    'instances[1].weight',
  ],
  ['weight zero', { instances: [A, { url: B, weight: 0 }] }, 'instances[1].weight'],
  ['weight huge', { instances: [A, { url: B, weight: 1e7 }] }, 'instances[1].weight'],
  ['weight tiny', { instances: [A, { url: B, weight: 1e-309 }] }, 'instances[1].weight'],
  ['weight a string', { instances: [A, { url: B, weight: '2' }] }, 'instances[1].weight'],
  ['url ftp:', { instances: ['ftp://10.0.0.1/'] }, 'instances[0].url'],
  ['url relative', { instances: [{ url: 'api/v1' }] }, 'instances[0].url'],
  ['url with credentials', { instances: ['http://admin:secret@10.0.0.1'] }, 'instances[0].url'],
  ['url with a user only', { instances: [{ url: 'https://admin@10.0.0.1' }] }, 'instances[0].url'],
  ['url too long', { instances: [`http://10.0.0.1/${'a'.repeat(2048)}`] }, 'instances[0].url'],
  ['url missing', { instances: [{ id: 'a' }] }, 'instances[0].url'],
  ['url empty', { instances: [''] }, 'instances[0].url'],
  ['unknown instance field', { instances: [{ url: A, host: 'x' }] }, 'instances[0].host'],
  ['id empty', { instances: [{ url: A, id: '' }] }, 'instances[0].id'],
  ['id a number', { instances: [{ url: A, id: 7 }] }, 'instances[0].id'],
  [
    'duplicate explicit ids',
    {
      instances: [
        { url: A, id: 'x' },
        { url: B, id: 'y' },
        { url: C, id: 'x' },
      ],
    },
    'instances[2].id',
  ],
  ['duplicate URLs', { instances: [A, `${A}/other-path`] }, 'instances[1].id'],
  ['zone empty', { instances: [{ url: A, zone: '' }] }, 'instances[0].zone'],
  ['zone too long', { instances: [{ url: A, zone: 'z'.repeat(129) }] }, 'instances[0].zone'],
  [
    'metadata value a number',
    { instances: [A, B, { url: C, metadata: { region: 5 } }] },
    'instances[2].metadata.region',
  ],
  [
    'metadata value nested',
    { instances: [A, B, { url: C, metadata: { region: { name: 'eu' } } }] },
    'instances[2].metadata.region',
  ],
  [
    'metadata value too long',
    { instances: [{ url: A, metadata: { region: 'r'.repeat(1025) } }] },
    'instances[0].metadata.region',
  ],
  ['metadata too many keys', { instances: [{ url: A, metadata: sixtyFiveKeys }] }, 'instances[0].metadata'],
  ['metadata an array', { instances: [{ url: A, metadata: ['eu'] }] }, 'instances[0].metadata'],
  [
    'metadata key too long',
    { instances: [{ url: A, metadata: { ['k'.repeat(200)]: 'v' } }] },
    `instances[0].metadata.${'k'.repeat(40)}`,
  ],
  ['strategy unknown name', { strategy: 'roundrobin' }, 'strategy'],
  ['strategy a number', { strategy: 5 }, 'strategy'],
  ['strategy object with unknown name', { strategy: { name: 'nope' } }, 'strategy.name'],
  ['strategy object without name', { strategy: { decayMs: 5 } }, 'strategy.name'],
  [
    'custom strategy with a non-string name',
    { strategy: { name: 5, pick: () => undefined } },
    'strategy.name',
  ],
  ['decayMs zero', { strategy: { name: 'peak-ewma', decayMs: 0 } }, 'strategy.decayMs'],
  ['decayMs negative', { strategy: { name: 'peak-ewma', decayMs: -5 } }, 'strategy.decayMs'],
  ['decayMs NaN', { strategy: { name: 'peak-ewma', decayMs: Number.NaN } }, 'strategy.decayMs'],
  [
    'defaultRttMs Infinity',
    { strategy: { name: 'peak-ewma', defaultRttMs: Number.POSITIVE_INFINITY } },
    'strategy.defaultRttMs',
  ],
  [
    'failurePenaltyMs negative',
    { strategy: { name: 'peak-ewma', failurePenaltyMs: -1 } },
    'strategy.failurePenaltyMs',
  ],
  ['option of another strategy', { strategy: { name: 'round-robin', decayMs: 5 } }, 'strategy.decayMs'],
  ['tableSize fractional', { strategy: { name: 'consistent-hash', tableSize: 1.5 } }, 'strategy.tableSize'],
  [
    'smoothMaxInstances zero',
    { strategy: { name: 'weighted-round-robin', smoothMaxInstances: 0 } },
    'strategy.smoothMaxInstances',
  ],
  [
    'adaptive thresholds without a gap',
    { strategy: { name: 'adaptive', enterLatencyCv: 0.3, exitLatencyCv: 0.3 } },
    'strategy.exitLatencyCv',
  ],
  ['adaptive smoothing above 1', { strategy: { name: 'adaptive', smoothing: 1.5 } }, 'strategy.smoothing'],
  [
    'adaptive smoothing 0 (a signal that never moves)',
    { strategy: { name: 'adaptive', smoothing: 0 } },
    'strategy.smoothing',
  ],
  ['health not an object', { health: 0.5 }, 'health'],
  ['health.threshold above 1', { health: { threshold: 1.5 } }, 'health.threshold'],
  ['health.threshold negative', { health: { threshold: -0.1 } }, 'health.threshold'],
  ['health.threshold NaN', { health: { threshold: Number.NaN } }, 'health.threshold'],
  ['health.threshold a string', { health: { threshold: '0.5' } }, 'health.threshold'],
  ['health.window fractional', { health: { window: 2.5 } }, 'health.window'],
  ['health.recoveryHalfLifeMs zero', { health: { recoveryHalfLifeMs: 0 } }, 'health.recoveryHalfLifeMs'],
  ['health.failOnPanic not a boolean', { health: { failOnPanic: 'yes' } }, 'health.failOnPanic'],
  ['health unknown key', { health: { treshold: 0.5 } }, 'health.treshold'],
  ['outlier not an object', { health: { outlier: true } }, 'health.outlier'],
  [
    'outlier.maxEjectionMs below base',
    { health: { outlier: { baseEjectionMs: 10_000, maxEjectionMs: 5_000 } } },
    'health.outlier.maxEjectionMs',
  ],
  [
    'outlier.maxEjectionPercent above 100',
    { health: { outlier: { maxEjectionPercent: 101 } } },
    'health.outlier.maxEjectionPercent',
  ],
  [
    'outlier.successRate.stdevFactor zero',
    { health: { outlier: { successRate: { stdevFactor: 0 } } } },
    'health.outlier.successRate.stdevFactor',
  ],
  ['slowStart.windowMs negative', { health: { slowStart: { windowMs: -1 } } }, 'health.slowStart.windowMs'],
  ['load.expiryMs zero', { health: { load: { expiryMs: 0 } } }, 'health.load.expiryMs'],
  ['clock not a function', { clock: 5 }, 'clock'],
  ['clock a Date', { clock: new Date(0) }, 'clock'],
  ['random not a function', { random: 0.5 }, 'random'],
  // Found by tools/reliability's hostile configurations: the first reading escaped as it was.
  [
    'clock that throws',
    {
      clock: () => {
        throw new Error('boom');
      },
    },
    'clock',
  ],
  ['clock returning NaN', { clock: () => Number.NaN }, 'clock'],
  ['clock returning a string', { clock: () => '5' }, 'clock'],
  ['logger a string', { logger: 'console' }, 'logger'],
  ['logger null', { logger: null }, 'logger'],
  ['logger.info not a function', { logger: { info: 'log' } }, 'logger.info'],
  ['logger.error not a function', { logger: { info() {}, error: true } }, 'logger.error'],
  // Bugs the property above found: holes in a sparse array threw a TypeError, and `name` was
  // accepted in any options object (only a strategy's has one).
  ['instances a sparse array', { instances: [, A] }, 'instances[0]'], // eslint-disable-line no-sparse-arrays
  ['instances new Array(2)', { instances: new Array(2) }, 'instances[0]'],
  ['health option "name" (only strategies have one)', { health: { name: 'strict' } }, 'health.name'],
  ['outlier option "name"', { health: { outlier: { name: 'x' } } }, 'health.outlier.name'],
];

describe.each(TABLE)('createBalancer with %s', (_label, options, field) => {
  it(`throws an InvalidConfigError at ${field.length > 60 ? `${field.slice(0, 57)}...` : field}`, () => {
    let error: unknown;
    try {
      createBalancer(options as BalancerOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
    expect((error as Error).message).toContain(field);
  });
});

describe('createBalancer with an unknown option named ""', () => {
  // A bug the property above found: the field was '' and the message read
  // "Invalid : 1 (unknown option; ...)", naming nothing.
  it('names the field with something a reader can see', () => {
    let error: unknown;
    try {
      createBalancer({ '': 1 } as BalancerOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect((error as InvalidConfigError).field).not.toBe('');
    expect((error as Error).message).toContain((error as InvalidConfigError).field);
  });
});

describe('runtime changes are validated like the configuration', () => {
  const balancer = createBalancer({ instances: [{ url: A, id: 'a' }], clock: () => 0 });
  afterAll(() => balancer.close());

  it.each([
    ['a bad URL', 'instance.url', 'ftp://x'],
    ['a taken id', 'instance.id', { url: B, id: 'a' }],
    ['bad metadata', 'instance.metadata.region', { url: B, metadata: { region: 1 } }],
    ['a bad weight', 'instance.weight', { url: B, weight: -2 }],
  ])('add() with %s throws at %s', (_label, field, input) => {
    expect(() => balancer.add(input as never)).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field }),
    );
    expect(balancer.instances()).toHaveLength(1);
  });

  it.each([
    ['a bad weight', 'patch.weight', { weight: Number.NaN }],
    ['an empty zone', 'patch.zone', { zone: '' }],
    ['nested metadata', 'patch.metadata.region', { metadata: { region: { a: 'b' } } }],
    ['a field that cannot change', 'patch.url', { url: B }],
  ])('update() with %s throws at %s', (_label, field, patch) => {
    expect(() => balancer.update('a', patch as never)).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field }),
    );
    expect(balancer.get('a')).toMatchObject({ weight: 1, zone: undefined });
  });

  it('update() of an unknown id throws at id', () => {
    expect(() => balancer.update('nope', { weight: 2 })).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'id' }),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Hostile objects: getters and Proxy traps that throw, revoked Proxies. Reading a field is part
// of validating it, so a throw there is invalid configuration at that field, not an escape.

const boom = (): never => {
  throw new Error('boom');
};
const revoked = (): object => {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
};
const trapped = (): object => new Proxy({}, { get: boom, ownKeys: boom, getPrototypeOf: boom, has: boom });

const HOSTILE: ReadonlyArray<readonly [string, () => unknown, string]> = [
  [
    'options with a throwing getter',
    () => ({
      get service() {
        return boom();
      },
    }),
    'service',
  ],
  ['options a revoked Proxy', () => revoked(), 'options'],
  ['options a Proxy whose traps throw', () => trapped(), 'options'],
  ['instances a revoked Proxy', () => ({ instances: revoked() }), 'instances'],
  [
    'an instance element behind a throwing getter',
    () => ({ instances: Object.defineProperty([A], 0, { get: boom }) }),
    'instances[0]',
  ],
  ['an instance a revoked Proxy', () => ({ instances: [revoked()] }), 'instances[0]'],
  [
    'an instance url getter that throws',
    () => ({
      instances: [
        {
          get url() {
            return boom();
          },
        },
      ],
    }),
    'instances[0].url',
  ],
  [
    'a metadata getter that throws',
    () => ({
      instances: [
        {
          url: A,
          metadata: {
            get region() {
              return boom();
            },
          },
        },
      ],
    }),
    'instances[0].metadata.region',
  ],
  ['health a revoked Proxy', () => ({ health: revoked() }), 'health'],
  [
    'a health getter that throws',
    () => ({
      health: {
        get threshold() {
          return boom();
        },
      },
    }),
    'health.threshold',
  ],
  [
    'an outlier getter that throws',
    () => ({
      health: {
        outlier: {
          get successRate() {
            return boom();
          },
        },
      },
    }),
    'health.outlier.successRate',
  ],
  [
    'a strategy option getter that throws',
    () => ({
      strategy: {
        name: 'peak-ewma',
        get decayMs() {
          return boom();
        },
      },
    }),
    'strategy.decayMs',
  ],
  [
    'a strategy whose pick getter throws',
    () => ({
      strategy: {
        get pick() {
          return boom();
        },
      },
    }),
    'strategy.pick',
  ],
  ['a strategy Proxy whose traps throw', () => ({ strategy: trapped() }), 'strategy.pick'],
  [
    'a logger level getter that throws',
    () => ({
      logger: {
        get info() {
          return boom();
        },
      },
    }),
    'logger.info',
  ],
  ['a logger that is an array', () => ({ logger: [] }), 'logger'],
  [
    'a discovery name getter that throws',
    () => ({
      discovery: {
        subscribe: () => () => {},
        get name() {
          return boom();
        },
      },
    }),
    'discovery.name',
  ],
  [
    'a clock returning a null-prototype object',
    () => ({ clock: () => Object.create(null) as unknown }),
    'clock',
  ],
];

describe.each(HOSTILE)('createBalancer with %s', (_label, make, field) => {
  it(`throws an InvalidConfigError at ${field}`, () => {
    let error: unknown;
    try {
      createBalancer(make() as BalancerOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidConfigError);
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
    expect((error as Error).message).toContain(field);
  });
});

describe('add() and update() with hostile objects', () => {
  it('throw an InvalidConfigError naming the field', () => {
    const balancer = createBalancer({ instances: [{ url: A, id: 'a' }], clock: () => 0 });
    expect(() => balancer.add(revoked() as never)).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'instance' }),
    );
    expect(() =>
      balancer.add({
        get url() {
          return boom();
        },
      } as never),
    ).toThrow(expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'instance.url' }));
    expect(() =>
      balancer.update('a', {
        get weight() {
          return boom();
        },
      } as never),
    ).toThrow(expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'patch.weight' }));
    expect(() => balancer.update('a', revoked() as never)).toThrow(
      expect.objectContaining({ code: 'BALLAST_INVALID_CONFIG', field: 'patch' }),
    );
    expect(balancer.instances()).toHaveLength(1);
    balancer.close();
  });
});
