/**
 * @ballast/core: health-aware load balancing, framework-agnostic and dependency-free.
 *
 * @packageDocumentation
 */
export { createBalancer } from './balancer';
export { BallastError, InvalidConfigError, NoInstanceError, type BallastErrorCode } from './errors';
export { defaultClock, type Clock } from './clock';
export { isConnectFailure } from './failures';
export { parseLogger } from './balancer-options';
export { defaultRandom, seededRandom, type Random } from './random';
export { STRATEGY_NAMES } from './strategies';
export { validateInstance } from './instance';
export type {
  Balancer,
  BalancerEventName,
  BalancerEvents,
  BalancerOptions,
  BalancerSnapshot,
  Discovery,
  DiscoverySink,
  DiscoverySnapshot,
  HealthOptions,
  Instance,
  InstanceConfig,
  InstanceInput,
  InstancePatch,
  InstanceSnapshot,
  InstanceState,
  Lease,
  Listener,
  Logger,
  Outcome,
  PickContext,
  ReleaseObserver,
  Strategy,
  StrategyContext,
  StrategyName,
  StrategyOption,
} from './types';
