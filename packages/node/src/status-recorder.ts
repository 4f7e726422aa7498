import type { Balancer, BalancerEvents, DiscoverySnapshot, Instance, InstanceSnapshot } from '@ballast/core';
import { InstanceWindow, type RecentFigures, type Series } from './status-window';

/** How many strategy switches and state changes a service remembers. */
const HISTORY_ENTRIES = 50;

/** At a glance: `ok`, `warn` (worth a look) or `trouble` (not serving, or failing). */
export type StatusLevel = 'ok' | 'warn' | 'trouble';

/** One instance on the status page: the balancer's snapshot plus the rolling window. */
export interface InstanceStatus extends Omit<InstanceSnapshot, 'metadata'> {
  /** Only with `exposeMetadata`. */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly level: StatusLevel;
  /** Why the level is not `ok`, in words (`"ejected"`, `"error rate 40 %"`). */
  readonly reasons: readonly string[];
  /** Over the last `windowSeconds` seconds. */
  readonly recent: RecentFigures;
  readonly series: Series;
}

/** A strategy switch (adaptive) or an instance's state change, with its wall-clock time (epoch ms). */
export interface StatusChange {
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
  /** For state changes: the instance. */
  readonly instance?: string;
}

/** One service on the status page. */
export interface ServiceStatus {
  readonly service: string;
  readonly strategy: string;
  readonly activeStrategy: string;
  readonly panic: boolean;
  /** The balancer was closed: it refuses every pick, whatever its instances' state. */
  readonly closed: boolean;
  /**
   * `trouble` when closed, in panic, or no instance takes new requests (all draining or in
   * trouble, or none at all once discovery has answered); `warn` when some instance is in trouble
   * or discovery is failing.
   */
  readonly level: StatusLevel;
  /** Strategy switches, oldest first (up to 50). */
  readonly switches: readonly StatusChange[];
  /** Instance state changes, oldest first (up to 50). */
  readonly changes: readonly StatusChange[];
  readonly instances: readonly InstanceStatus[];
  /** The discovery source's state, for a balancer fed by one (DNS, etcd...). */
  readonly discovery?: DiscoverySnapshot;
}

const NO_FIGURES: RecentFigures = {
  requestsPerSecond: 0,
  errorRate: 0,
  requests: 0,
  p50Ms: null,
  p99Ms: null,
};

/** Error rates (over the recent window, with enough requests) that raise an instance's level. */
const WARN_ERROR_RATE = 0.05;
const TROUBLE_ERROR_RATE = 0.25;
const MIN_REQUESTS = 5;

function levelOf(
  instance: InstanceSnapshot,
  recent: RecentFigures,
  closed: boolean,
): { level: StatusLevel; reasons: string[] } {
  const reasons: string[] = [];
  let level: StatusLevel = 'ok';
  const raise = (to: StatusLevel, reason: string) => {
    reasons.push(reason);
    if (to === 'trouble' || level === 'ok') level = to;
  };
  if (closed) raise('trouble', 'balancer closed');
  else if (instance.state === 'ejected' || instance.state === 'unhealthy') raise('trouble', instance.state);
  else if (instance.state === 'slow-start') raise('warn', 'slow start');
  else if (instance.state === 'draining') raise('warn', 'draining');
  if (recent.requests >= MIN_REQUESTS && recent.errorRate >= WARN_ERROR_RATE) {
    const percent = Math.round(recent.errorRate * 100);
    raise(recent.errorRate >= TROUBLE_ERROR_RATE ? 'trouble' : 'warn', `error rate ${percent} %`);
  }
  if (instance.health < 0.8 && instance.state === 'healthy')
    raise('warn', `health ${instance.health.toFixed(2)}`);
  return { level, reasons };
}

/** Whether an instance takes new requests: not in trouble, and not draining (removed). */
function serving(instance: InstanceStatus): boolean {
  return instance.level !== 'trouble' && instance.state !== 'draining';
}

function push<T>(list: T[], entry: T): void {
  list.push(entry);
  if (list.length > HISTORY_ENTRIES) list.shift();
}

/**
 * Listens to one balancer for the status page: feeds each instance's rolling window from its
 * releases and remembers strategy switches and state changes. `detach()` removes every listener
 * and observer it added.
 */
export class ServiceRecorder {
  // Keyed by the balancer's own instance object: cheaper to hash than its id string.
  private readonly windows = new Map<Instance, InstanceWindow>();
  /** When each instance added since the recorder started joined (ms), until its first release. */
  private readonly joined = new Map<Instance, number>();
  private readonly startedAt: number;
  private readonly unobserve: () => void;
  private readonly switches: StatusChange[] = [];
  private readonly changes: StatusChange[] = [];

  constructor(
    readonly balancer: Balancer,
    private readonly historySeconds: number,
    /** Monotonic ms clock for the windows. */
    private readonly now: () => number,
    /** Wall clock, epoch ms, for the history entries a person reads. */
    private readonly wallClock: () => number = Date.now,
  ) {
    this.startedAt = now();
    // A release observer rather than the `release` event: it allocates nothing, sees each
    // outcome as the balancer counted it, and still hears the requests in flight when the
    // balancer closes (close() drops its event listeners).
    this.unobserve = balancer.observeReleases(this.onRelease);
    balancer.on('instance-added', this.onAdded);
    balancer.on('instance-removed', this.onRemoved);
    balancer.on('strategy-change', this.onStrategy);
    balancer.on('health-change', this.onHealth);
  }

  detach(): void {
    this.unobserve();
    this.balancer.off('instance-added', this.onAdded);
    this.balancer.off('instance-removed', this.onRemoved);
    this.balancer.off('strategy-change', this.onStrategy);
    this.balancer.off('health-change', this.onHealth);
    this.windows.clear();
    this.joined.clear();
  }

  private readonly onRelease = (instance: Instance, ok: boolean): void => {
    let window = this.windows.get(instance);
    if (window === undefined) {
      // A draining instance's late releases must not bring back a window nobody will read.
      if (this.balancer.get(instance.id) !== instance) return;
      // Watched since it joined, or since the recorder started: a window begun at the first
      // request rated a burst after an idle minute as if the instance had never been idle.
      window = new InstanceWindow(this.historySeconds, this.joined.get(instance) ?? this.startedAt);
      this.joined.delete(instance);
      this.windows.set(instance, window);
    }
    window.record(this.now(), instance.lastLatencyMs, ok);
  };

  private readonly onAdded = (event: BalancerEvents['instance-added']): void => {
    this.joined.set(event.instance, this.now());
  };

  private readonly onRemoved = (event: BalancerEvents['instance-removed']): void => {
    this.windows.delete(event.instance);
    this.joined.delete(event.instance);
  };

  private readonly onStrategy = (event: BalancerEvents['strategy-change']): void => {
    push(this.switches, { at: this.wallClock(), from: event.from, to: event.to, reason: event.reason });
  };

  private readonly onHealth = (event: BalancerEvents['health-change']): void => {
    push(this.changes, {
      at: this.wallClock(),
      instance: event.instance.id,
      from: event.from,
      to: event.to,
      reason: event.reason,
    });
  };

  /**
   * The service as the page shows it, with at most `points` seconds of each series. Costs
   * O(instances × points); never on a request's path.
   */
  status(exposeMetadata: boolean, nowMs: number, points: number): ServiceStatus {
    const snapshot = this.balancer.snapshot();
    const closed = snapshot.closed === true;
    const instances = snapshot.instances.map((instance): InstanceStatus => {
      // No window yet (no release so far, or draining): figures of an empty second. A draining
      // instance's id may already belong to its successor, whose window is not its own.
      const live = instance.state === 'draining' ? undefined : this.balancer.get(instance.id);
      const window = live && this.windows.get(live);
      const recent = window ? window.recent(nowMs) : NO_FIGURES;
      const { metadata, ...rest } = instance;
      return {
        ...rest,
        ...(exposeMetadata ? { metadata } : {}),
        ...levelOf(instance, recent, closed),
        recent,
        series: window ? window.series(nowMs, points) : { requests: [0], failures: [0], p99Ms: [null] },
      };
    });
    const troubled = instances.filter((i) => i.level === 'trouble').length;
    // With no instance that takes new requests (an empty pool, or every one draining or in
    // trouble) every pick fails with BALLAST_NO_INSTANCE, however calm each row looks. A source
    // that has not answered yet is starting, not failing.
    const noneServing = instances.filter(serving).length === 0 && snapshot.discovery?.state !== 'pending';
    // A failing registry is worth a look even while the last good list serves well.
    const discoveryFailing = snapshot.discovery?.state === 'failing';
    return {
      service: snapshot.service,
      strategy: snapshot.strategy,
      activeStrategy: snapshot.activeStrategy,
      panic: snapshot.panic,
      closed,
      level:
        closed || snapshot.panic || noneServing
          ? 'trouble'
          : troubled > 0 || discoveryFailing
            ? 'warn'
            : 'ok',
      switches: this.switches.slice(),
      changes: this.changes.slice(),
      instances,
      ...(snapshot.discovery === undefined ? {} : { discovery: snapshot.discovery }),
    };
  }
}
