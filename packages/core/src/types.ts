import type { Clock } from './clock';
import type { NoInstanceError } from './errors';
import type { Random } from './random';

/** How an instance is configured: a plain URL string or an object. */
export type InstanceInput = string | InstanceConfig;

/** An upstream instance as configured. */
export interface InstanceConfig {
  /** Stable identity; defaults to the URL's origin. */
  readonly id?: string;
  /** Absolute http(s) URL of the instance. */
  readonly url: string;
  /** Relative capacity, a finite number > 0. Default 1. */
  readonly weight?: number;
  /** Locality, matchable through `pick({ match: { zone } })`. */
  readonly zone?: string;
  /** Flat string-to-string labels, matchable through `pick({ match })`. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * Priority tier, an integer >= 0 (default 0; lower is preferred, like DNS SRV priority and
   * Envoy's priority levels): picks go to the lowest tier that has a healthy instance.
   */
  readonly priority?: number;
}

/** The lifecycle state of an instance as reported by `snapshot()`. */
export type InstanceState = 'healthy' | 'unhealthy' | 'ejected' | 'slow-start' | 'draining';

/**
 * A read-only view of an instance and its live state. The object is owned by the balancer and
 * updated in place; read it, never write it.
 */
export interface Instance {
  readonly id: string;
  readonly url: string;
  /** Configured weight. */
  readonly weight: number;
  /** Weight after slow start and server-reported load; what weighted strategies use. */
  readonly effectiveWeight: number;
  readonly zone: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  /** Priority tier (0 is preferred); see `InstanceConfig.priority`. */
  readonly priority: number;
  /** Requests picked and not yet released. */
  readonly inflight: number;
  /** Released requests, in total and those that failed. */
  readonly requests: number;
  readonly failures: number;
  /** Consecutive failed releases (reset by a success). */
  readonly consecutiveFailures: number;
  /** Exponentially weighted moving average of the success rate, in [0, 1]. */
  readonly successRate: number;
  /** Exponentially weighted moving average of latency in ms (0 until the first sample). */
  readonly latencyMs: number;
  /** Latency of the last released request, ms (0 before the first). */
  readonly lastLatencyMs: number;
  /** Health score in [0, 1]; below the service's threshold the instance is not picked. */
  readonly health: number;
  readonly state: InstanceState;
  /**
   * The last outcomes, newest in bit 0 (1 = failure); `historyLength` of them are valid
   * (up to 32).
   */
  readonly history: number;
  readonly historyLength: number;
}

/** What a caller tells `pick()` about the request. */
export interface PickContext {
  /** Affinity key for `consistent-hash` (user id, session id...). */
  readonly key?: string;
  /** Instance ids not to pick, for example those already tried by a retry. */
  readonly exclude?: Iterable<string>;
  /** Only instances whose `zone` and metadata include these pairs (an undefined value matches anything). */
  readonly match?: Readonly<Record<string, string>>;
  /**
   * This pick retries a request that failed on another instance: a successful pick also emits
   * `retry`, and a failed one does not emit `no-instance` (the first attempt's answer stands).
   */
  readonly retry?: boolean;
}

/** The outcome of one request, given to `lease.release()`. */
export interface Outcome {
  readonly ok: boolean;
  /** HTTP status, if there was one. */
  readonly status?: number;
  /** Measured latency; defaults to the time since the pick on the balancer's clock. */
  readonly latencyMs?: number;
  readonly error?: unknown;
  /** Server-reported utilization in [0, 1] (ORCA); see the health model. */
  readonly load?: number;
}

/** One picked instance, held for the duration of one request. */
export interface Lease {
  readonly instance: Instance;
  /** Clock time of the pick, in ms. */
  readonly startedAt: number;
  /** Records the outcome and frees the slot. Idempotent: later calls are ignored. */
  release(outcome: Outcome): void;
}

/**
 * What a strategy sees for one pick. The object is reused from pick to pick: read it during
 * `pick()`, never keep it.
 */
export interface StrategyContext {
  readonly key: string | undefined;
  /** Current time on the balancer's clock, ms. */
  readonly now: number;
  readonly random: Random;
}

/**
 * A selection strategy: chooses one of the candidates the health model admits. It does no I/O
 * and reads time and randomness only from the context. Returning `undefined` means "none".
 */
export interface Strategy {
  readonly name: string;
  pick(candidates: readonly Instance[], ctx: StrategyContext): Instance | undefined;
}

/** Names of the built-in strategies. */
export type StrategyName =
  | 'round-robin'
  | 'weighted-round-robin'
  | 'least-connections'
  | 'power-of-two'
  | 'peak-ewma'
  | 'random'
  | 'consistent-hash'
  | 'adaptive';

/** A strategy by name, by name with options, or a custom strategy object. */
export type StrategyOption =
  StrategyName | ({ readonly name: StrategyName } & Readonly<Record<string, unknown>>) | Strategy;

/** A pino-compatible logger. Every method is optional to call; Ballast is silent without one. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** Options of the health model; see the README's health section for the formula. */
export interface HealthOptions {
  /** Instances with a health score below this are not picked. Default 0.5, per balancer. */
  readonly threshold?: number;
  /** Below this fraction of healthy instances, balance over all of them (panic). Default 0.5. */
  readonly panicThreshold?: number;
  /** In panic, fail picks with `BALLAST_NO_INSTANCE` instead. Default false. */
  readonly failOnPanic?: boolean;
  /** Outcomes the success-rate average spans (α = 1 / window). Default 10. */
  readonly window?: number;
  /** Half-life, in ms, with which an idle instance's success rate recovers toward 1. Default 10 000. */
  readonly recoveryHalfLifeMs?: number;
  /** Latency above this many times the others' mean lowers health in proportion. Default 10. */
  readonly latencyFactor?: number;
  /** Outlier ejection (Envoy/gRPC names and defaults), or `false`. */
  readonly outlier?:
    | false
    | {
        readonly consecutiveFailures?: number;
        readonly intervalMs?: number;
        readonly baseEjectionMs?: number;
        readonly maxEjectionMs?: number;
        readonly maxEjectionPercent?: number;
        readonly successRate?:
          | false
          | {
              readonly stdevFactor?: number;
              readonly minimumHosts?: number;
              readonly requestVolume?: number;
            };
        readonly failurePercentage?:
          | false
          | { readonly threshold?: number; readonly minimumHosts?: number; readonly requestVolume?: number };
      };
  /** Slow start for instances joining a running pool or recovering, or `false`. */
  readonly slowStart?:
    false | { readonly windowMs?: number; readonly aggression?: number; readonly minWeightPercent?: number };
  /** Server-reported load (ORCA utilization on outcomes), as gRPC weighted round robin. */
  readonly load?: {
    readonly blackoutMs?: number;
    readonly expiryMs?: number;
    readonly errorUtilizationPenalty?: number;
  };
}

/** Options of `createBalancer`. */
export interface BalancerOptions {
  /** Name of the upstream service, for logs, events and metrics. Default `"default"`. */
  readonly service?: string;
  readonly instances?: readonly InstanceInput[];
  /** Default `adaptive` (see the README's strategy guide for why). */
  readonly strategy?: StrategyOption;
  readonly health?: HealthOptions;
  /** Monotonic ms clock, never below 0. Default: `performance.now()`. */
  readonly clock?: Clock;
  /** Uniform [0, 1) source. Default: `Math.random`. */
  readonly random?: Random;
  /** pino-compatible logger. Default: silent. */
  readonly logger?: Logger;
  /**
   * A source of instances that change over time (DNS, etcd...), beside or instead of
   * `instances`. The balancer subscribes at creation and unsubscribes on `close()`; see
   * `Discovery`.
   */
  readonly discovery?: Discovery;
}

/** One instance in a snapshot: plain JSON. */
export interface InstanceSnapshot {
  readonly id: string;
  readonly url: string;
  readonly weight: number;
  readonly effectiveWeight: number;
  readonly zone?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly priority: number;
  readonly inflight: number;
  readonly health: number;
  readonly state: InstanceState;
  readonly requests: number;
  readonly failures: number;
  readonly successRate: number;
  readonly latencyMs: number;
}

/** The balancer's state as plain JSON. */
export interface BalancerSnapshot {
  readonly service: string;
  readonly strategy: string;
  /** The strategy choosing right now: for `adaptive`, its current delegate; otherwise `strategy`. */
  readonly activeStrategy: string;
  /** Whether too few instances are healthy and the balancer spreads over all of them. */
  readonly panic: boolean;
  readonly instances: readonly InstanceSnapshot[];
  /** The discovery source's state, when the balancer has one. */
  readonly discovery?: DiscoverySnapshot;
  /** Present (true) once `close()` was called: every pick is refused. */
  readonly closed?: true;
}

/** Event names and the payload each carries. */
export interface BalancerEvents {
  pick: { readonly service: string; readonly lease: Lease };
  release: {
    readonly service: string;
    readonly instance: Instance;
    readonly outcome: Outcome;
    readonly latencyMs: number;
  };
  'instance-added': { readonly service: string; readonly instance: Instance };
  'instance-removed': { readonly service: string; readonly instance: Instance };
  'instance-updated': { readonly service: string; readonly instance: Instance };
  'health-change': {
    readonly service: string;
    readonly instance: Instance;
    readonly from: InstanceState;
    readonly to: InstanceState;
    readonly reason: string;
  };
  eject: {
    readonly service: string;
    readonly instance: Instance;
    readonly reason: string;
    readonly untilMs: number;
  };
  restore: { readonly service: string; readonly instance: Instance; readonly reason: string };
  panic: {
    readonly service: string;
    readonly active: boolean;
    /** `too-few-healthy` on entry, `enough-healthy` on exit. */
    readonly reason: 'too-few-healthy' | 'enough-healthy';
    readonly healthy: number;
    readonly total: number;
  };
  'strategy-change': {
    readonly service: string;
    readonly from: string;
    readonly to: string;
    readonly reason: string;
    readonly signals: Readonly<Record<string, number>>;
  };
  /** A discovery list was applied (also when nothing changed: it confirms the list is fresh). */
  'discovery-update': {
    readonly service: string;
    readonly source: string;
    readonly added: number;
    readonly removed: number;
    readonly updated: number;
    /** Entries skipped as invalid (each one logged as a warning). */
    readonly skipped: number;
    /** Discovered instances after the update. */
    readonly total: number;
  };
  /** The discovery source failed; the last good list keeps serving. */
  'discovery-error': {
    readonly service: string;
    readonly source: string;
    readonly error: unknown;
    /** Consecutive failures, this one included. */
    readonly failures: number;
    /** Discovered instances kept from the last good list. */
    readonly kept: number;
  };
  /** A pick with `retry: true` succeeded: the request is tried again, on `lease.instance`. */
  retry: { readonly service: string; readonly lease: Lease };
  /** A pick (not a retry) found no instance and threw `NoInstanceError`. */
  'no-instance': { readonly service: string; readonly reason: string; readonly error: NoInstanceError };
}

/**
 * A low-level observer of every release, for metrics that must cost almost nothing per request
 * (everything else should use the `release` event): called synchronously with the instance
 * (its `lastLatencyMs` is this release's latency), whether the outcome was ok and the instance's
 * `slot`, with nothing allocated (a latency passed as an argument would be boxed on every call).
 * `slot` is a small integer, unique among the balancer's instances (draining ones included) and
 * reused once an instance is gone, so an observer can keep per-instance numbers in arrays indexed
 * by it instead of a map (checking that the instance in a slot is still the one it knew).
 */
export type ReleaseObserver = (instance: Instance, ok: boolean, slot: number) => void;

/** The names `on()` and `off()` take: `pick`, `release`, `health-change`, `panic`... */
export type BalancerEventName = keyof BalancerEvents;
/** A listener of one event, called with its payload; one that throws is logged and ignored. */
export type Listener<E extends BalancerEventName> = (event: BalancerEvents[E]) => void;

/** Instance fields that `update()` may change at runtime. */
export interface InstancePatch {
  readonly weight?: number;
  readonly zone?: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly priority?: number;
}

/**
 * What a discovery source reports to. The balancer hands one to `Discovery.subscribe`.
 */
export interface DiscoverySink {
  /**
   * The complete current list (state of the world, not a delta). Entries are validated like
   * `instances` configuration: an invalid one is skipped with a warning and never throws. The
   * balancer applies the difference by id: instances that stay keep what they learned, new
   * ones slow-start, removed ones drain. A non-empty list with no valid entry counts as a
   * failure (the last good list stays); an empty list empties the discovered part of the pool,
   * so a source must report "could not look" through `error()`, never as an empty list.
   */
  update(instances: readonly unknown[]): void;
  /** The source could not get a list; the last good list keeps serving. Never throws. */
  error(error: unknown): void;
  /** The balancer's logger, for the source's own warnings (an entry it could not even parse). */
  readonly logger: Logger;
  /** The balancer's service name, for those log lines. */
  readonly service: string;
}

/**
 * A source of instances: DNS (`dnsDiscovery` in `@ballast/node`), etcd (`@ballast/etcd`) or your
 * own. The source is the active part: it owns its timers, watches and connections, starts them
 * in `subscribe` and stops them in the function `subscribe` returns. Each subscription is
 * independent, so one source may feed several balancers.
 *
 * @example
 * const fixed: Discovery = {
 *   name: 'fixed',
 *   subscribe(sink) {
 *     sink.update([{ id: 'a', url: 'http://10.0.0.1:3000' }]);
 *     return () => {};
 *   },
 * };
 * createBalancer({ discovery: fixed });
 */
export interface Discovery {
  /** Names the source in logs, events and snapshots, e.g. `dns:_http._tcp.users.internal`. */
  readonly name: string;
  /** Starts feeding `sink`; returns the function that stops it (called by `balancer.close()`). */
  subscribe(sink: DiscoverySink): () => void;
}

/** The discovery part of a snapshot. */
export interface DiscoverySnapshot {
  readonly source: string;
  /** `pending` until the first list; `ok` after a good one; `failing` since a failure. */
  readonly state: 'pending' | 'ok' | 'failing';
  /** Discovered instances in the pool (static `instances` not counted). */
  readonly instances: number;
  readonly updates: number;
  readonly errors: number;
  /** Consecutive failures since the last good list. */
  readonly failures: number;
  /** Entries skipped as invalid in the last list. */
  readonly skipped: number;
  /** Ms since the last good list, on the balancer's clock (absent before the first). */
  readonly sinceUpdateMs?: number;
  /** The last failure's message (absent if there was none). */
  readonly lastError?: string;
}

/** A load balancer for one upstream service. */
export interface Balancer {
  readonly service: string;
  /** Name of the configured strategy (see `snapshot().activeStrategy` for adaptive's delegate). */
  readonly strategy: string;
  /**
   * Picks an instance for one request. Throws `NoInstanceError` (`BALLAST_NO_INSTANCE`) at once
   * when none is eligible.
   */
  pick(ctx?: PickContext): Lease;
  /**
   * Feeds one active health check result (from `@ballast/node`'s checker or your own): a failed
   * check takes the instance out; a passed one brings it back, ending an ejection early.
   */
  reportCheck(id: string, ok: boolean): void;
  /**
   * Ejects an instance as outlier detection does, for a fault that no lease reports (such as
   * `@ballast/node`'s connections closed early): for the ejection time of its next consecutive
   * ejection, within `maxEjectionPercent`, emitting `eject` with `reason`. It returns when its
   * time is up or an active check passes. Returns whether the instance is now ejected (false
   * for an unknown id, with outlier ejection off, or when the cap is reached). `reason` must be
   * a non-empty string of at most 64 characters, else `InvalidConfigError`.
   */
  eject(id: string, reason: string): boolean;
  /** Adds an instance; throws `InvalidConfigError` if it is invalid or its id is taken. */
  add(instance: InstanceInput): Instance;
  /**
   * Removes an instance: it gets no further picks; in-flight leases finish normally (draining).
   * Returns false if there was no such instance.
   */
  remove(id: string): boolean;
  /** Changes weight, zone or metadata; the instance keeps everything it has learned. */
  update(id: string, patch: InstancePatch): Instance;
  /**
   * The instance with this id, if any: its live state, as of the balancer's latest health work
   * (a pick, a check, `instances()` or `snapshot()`); cheap enough for every request.
   */
  get(id: string): Instance | undefined;
  /**
   * All current instances (not those draining), after the health work that is due (an ejection
   * whose time is up ends), so their states agree with `snapshot()`.
   */
  instances(): readonly Instance[];
  snapshot(): BalancerSnapshot;
  /**
   * Adds a release observer (see `ReleaseObserver`); returns the function that removes it. One
   * that throws is logged and ignored, as a listener is.
   */
  observeReleases(observer: ReleaseObserver): () => void;
  on<E extends BalancerEventName>(event: E, listener: Listener<E>): this;
  off<E extends BalancerEventName>(event: E, listener: Listener<E>): this;
  /**
   * Stops the balancer: further picks throw `BALLAST_CLOSED`, listeners are removed. Leases still
   * out are released as usual, and release observers (metrics) still count them. Idempotent.
   */
  close(): void;
  /** Whether `close()` was called. */
  readonly closed: boolean;
}
