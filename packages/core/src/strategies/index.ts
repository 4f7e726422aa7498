import { InvalidConfigError } from '../errors';
import { readField, readPlain } from '../instance';
import type { Strategy, StrategyName, StrategyOption } from '../types';
import { Adaptive } from './adaptive';
import { ConsistentHash } from './consistent-hash';
import { LeastConnections } from './least-connections';
import { PeakEwma } from './peak-ewma';
import { PowerOfTwo } from './power-of-two';
import { WeightedRandom } from './random';
import { RoundRobin } from './round-robin';
import type { BuiltinStrategy, StrategyHost } from './strategy';
import { WeightedRoundRobin } from './weighted-round-robin';
import { readOptions } from '../options';

/** The names of the built-in strategies, as `strategy` accepts them. */
export const STRATEGY_NAMES: readonly StrategyName[] = [
  'round-robin',
  'weighted-round-robin',
  'least-connections',
  'power-of-two',
  'peak-ewma',
  'random',
  'consistent-hash',
  'adaptive',
];

type Factory = (options: Record<string, unknown>, host: StrategyHost, field: string) => BuiltinStrategy;

const FACTORIES: Record<StrategyName, Factory> = {
  'round-robin': (options, _host, field) => (readOptions(options, field, [], true), new RoundRobin()),
  'weighted-round-robin': (options, _host, field) => new WeightedRoundRobin(options, field),
  'least-connections': (options, _host, field) => (
    readOptions(options, field, [], true),
    new LeastConnections()
  ),
  'power-of-two': (options, _host, field) => (readOptions(options, field, [], true), new PowerOfTwo()),
  'peak-ewma': (options, _host, field) => new PeakEwma(options, field),
  random: (options, _host, field) => (readOptions(options, field, [], true), new WeightedRandom()),
  'consistent-hash': (options, host, field) => new ConsistentHash(host, options, field),
  adaptive: (options, host, field) => new Adaptive(host, options, field),
};

/** A strategy that the balancer can drive: a built-in, or a user's object wrapped as one. */
export type AnyStrategy = BuiltinStrategy | Strategy;

const builtins = new WeakSet<AnyStrategy>();

/** Whether `strategy` was made here (and so honours the `BuiltinStrategy` hooks). */
export function isBuiltin(strategy: AnyStrategy): strategy is BuiltinStrategy {
  return builtins.has(strategy);
}

/**
 * Resolves the `strategy` option: a name, `{ name, ...options }`, or a custom strategy object
 * (anything with a `pick` function).
 */
export function createStrategy(
  option: StrategyOption | undefined,
  host: StrategyHost,
  field = 'strategy',
): AnyStrategy {
  // The simulator's verdict (docs/simulation.md): adaptive is within 1 % of the best fixed
  // strategy in every scenario and beats them all when conditions change.
  if (option === undefined) return builtin(new Adaptive(host));
  if (typeof option === 'string') return builtin(factoryFor(option, field)({}, host, field));
  if (typeof option === 'object' && option !== null) {
    if (typeof readField(option, 'pick', field) === 'function') {
      const name = readField(option, 'name', field);
      if (name !== undefined && typeof name !== 'string')
        throw new InvalidConfigError(`${field}.name`, name, 'expected a string');
      return option as Strategy;
    }
    const options = readPlain(option, field);
    if (options !== undefined)
      return builtin(factoryFor(options.name, `${field}.name`)(options, host, field));
  }
  throw new InvalidConfigError(
    field,
    option,
    `expected one of ${STRATEGY_NAMES.join(', ')}, { name, ...options } or an object with pick()`,
  );
}

function factoryFor(name: unknown, field: string): Factory {
  if (typeof name === 'string' && Object.prototype.hasOwnProperty.call(FACTORIES, name))
    return FACTORIES[name as StrategyName];
  throw new InvalidConfigError(field, name, `expected one of ${STRATEGY_NAMES.join(', ')}`);
}

function builtin(strategy: BuiltinStrategy): BuiltinStrategy {
  builtins.add(strategy);
  return strategy;
}
