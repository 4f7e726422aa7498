import {
  guardClock,
  OPTION_KEYS,
  parseClock,
  parseFunction,
  parseLogger,
  parseService,
  readClock,
} from './balancer-options';
import { defaultClock, type Clock } from './clock';
import { LeaseImpl } from './lease';
import { CandidatePool } from './pool';
import { DiscoveryFeed, parseDiscovery, type DiscoveryHost } from './discovery';
import { BallastError, describe, fieldPath, InvalidConfigError, NoInstanceError } from './errors';
import { Events } from './events';
import { parseHealthOptions } from './health/options';
import { HealthTracker, type TrackerHost } from './health/tracker';
import {
  Member,
  parseInstance,
  parsePatch,
  readItem,
  readLength,
  readPlain,
  snapshotOf,
  type InstanceSpec,
} from './instance';
import { defaultRandom, type Random } from './random';
import { createStrategy, isBuiltin, type AnyStrategy } from './strategies';
import { Adaptive } from './strategies/adaptive';
import type { BuiltinStrategy, StrategyHost } from './strategies/strategy';
import type {
  Balancer,
  BalancerEventName,
  BalancerEvents,
  BalancerOptions,
  BalancerSnapshot,
  Instance,
  InstanceInput,
  InstancePatch,
  InstanceSnapshot,
  Lease,
  Listener,
  Logger,
  Outcome,
  PickContext,
  ReleaseObserver,
} from './types';

/** The longest `reason` `eject()` accepts: it goes into events and log lines. */
const MAX_REASON_LENGTH = 64;

/**
 * How long after the latest pick a release given its latency may be dated at that pick rather
 * than read the clock (see `settle`): within it, the outcome's time is off by at most this.
 */
const OUTCOME_DATING_MS = 1_000;

/** What `settleUnreadable` records. */
const UNREADABLE_OUTCOME: Outcome = Object.freeze({ ok: false });

/**
 * Creates a balancer for one upstream service. Throws `InvalidConfigError`
 * (`BALLAST_INVALID_CONFIG`) naming the field if any option is invalid.
 *
 * @example
 * const balancer = createBalancer({ instances: ['http://10.0.0.1:3000', 'http://10.0.0.2:3000'] });
 * const lease = balancer.pick();
 * try { await send(lease.instance.url); lease.release({ ok: true }); }
 * catch (error) { lease.release({ ok: false, error }); }
 */
export function createBalancer(options: BalancerOptions): Balancer {
  return new BalancerImpl(options);
}

/** The mutable context handed to strategies, reused from pick to pick. */
interface PickState {
  key: string | undefined;
  now: number;
  isPool: boolean;
  readonly random: Random;
}

class BalancerImpl implements Balancer, StrategyHost, TrackerHost, DiscoveryHost {
  readonly service: string;
  readonly random: Random;
  membersVersion = 0;

  readonly logger: Logger;
  readonly events: Events;
  private readonly clock: Clock;
  private readonly tracker: HealthTracker;
  private readonly impl: AnyStrategy;
  private readonly builtin: BuiltinStrategy | undefined;
  private readonly strategyName: string;

  private readonly byId = new Map<string, Member>();
  private list: Member[] = [];
  /** `list` still holds removed members (marked draining): `members()` leaves them out. */
  private listStale = false;
  private readonly drainingMembers = new Set<Member>();
  private readonly freeSlots: number[] = [];
  private slotCount = 0;

  private readonly candidates: CandidatePool;
  private readonly state: PickState;
  /** Clock time of the latest pick. */
  private lastPickAt = -Infinity;
  /** Set by close(); a plain field, read on every pick. */
  closed = false;
  private hasPickListeners = false;
  /** The release listeners, kept in a field: read on every release. */
  private releaseListeners: readonly Listener<'release'>[] | undefined;
  /** Copy on write, like listeners; undefined when there is none. */
  private releaseObservers: readonly ReleaseObserver[] | undefined;
  /** The observers as one guarded call (see `observeReleases`), or undefined without any. */
  private observeRelease: ReleaseObserver | undefined;
  private hasRetryListeners = false;
  /** A switch of adaptive's delegate made during the pick in progress, announced when it ends. */
  private pendingSwitch: BalancerEvents['strategy-change'] | undefined;
  private clockWarned = false;
  private readonly feed: DiscoveryFeed | undefined;

  constructor(options: BalancerOptions) {
    // Read once: getters and Proxy traps that throw are invalid configuration, named.
    const raw = readPlain(options, '');
    if (raw === undefined) throw new InvalidConfigError('options', options, 'expected an options object');
    for (const key of Object.keys(raw)) {
      if (!OPTION_KEYS.has(key)) {
        throw new InvalidConfigError(
          fieldPath('', key),
          raw[key],
          `unknown option; expected one of ${[...OPTION_KEYS].join(', ')}`,
        );
      }
    }
    const o = raw as Partial<Record<keyof BalancerOptions, unknown>>;
    this.service = parseService(o.service);
    const clock = parseClock(o.clock);
    this.random = parseFunction(o.random, 'random', defaultRandom);
    this.logger = parseLogger(o.logger);
    this.events = new Events(this.logger);
    const health = parseHealthOptions(o.health);
    this.impl = createStrategy(o.strategy as BalancerOptions['strategy'], this);
    this.builtin = isBuiltin(this.impl) ? this.impl : undefined;
    // Read once: a custom strategy's name is optional in JavaScript, and the snapshot needs one.
    this.strategyName = typeof this.impl.name === 'string' ? this.impl.name : 'custom';
    this.state = { key: undefined, now: 0, isPool: true, random: this.random };

    const now = readClock(clock, o.clock);
    this.clock = clock === defaultClock ? clock : guardClock(clock, now, (reading) => this.badClock(reading));
    this.tracker = new HealthTracker(health, this, now);
    this.candidates = new CandidatePool(
      this,
      (members) => this.tracker.buildPool(members),
      () => this.tracker.announcePanic(),
    );
    const instances = o.instances ?? [];
    const length = readLength(instances, 'instances');
    if (length === undefined)
      throw new InvalidConfigError('instances', instances, 'expected an array of URLs or instance objects');
    // An index loop, not map(): a sparse array's holes must be validated too, not skipped.
    const specs: InstanceSpec[] = [];
    for (let i = 0; i < length; i++)
      specs.push(parseInstance(readItem(instances, i, 'instances') as InstanceInput, `instances[${i}]`));
    for (const [i, spec] of specs.entries()) {
      if (this.byId.has(spec.id))
        throw new InvalidConfigError(`instances[${i}].id`, spec.id, 'duplicate instance id');
      this.insert(spec, now, false);
    }
    // Last: a source may deliver its first list from inside subscribe().
    this.feed = o.discovery === undefined ? undefined : new DiscoveryFeed(parseDiscovery(o.discovery), this);
    this.feed?.start();
  }

  get strategy(): string {
    return this.strategyName;
  }

  members(): readonly Member[] {
    if (this.listStale) {
      // Removals only mark their members (see `removeMember`): one pass here, however many left.
      this.list = this.list.filter((m) => !m.draining);
      this.listStale = false;
    }
    return this.list;
  }

  pool(): readonly Member[] {
    return this.candidates.current();
  }

  pick(ctx?: PickContext): Lease {
    if (this.closed)
      throw new BallastError('BALLAST_CLOSED', `Balancer for service "${this.service}" is closed`);
    const now = this.clock();
    this.lastPickAt = now;
    if (now >= this.tracker.nextDueAt) this.tracker.maintain(now);

    // The candidates first: a rebuild of the pool may announce a panic, and a listener pick,
    // which fills in the shared context for its own strategy call.
    let candidates = this.candidates.current();
    let key: string | undefined;
    let isPool = true;
    let exclude: ReadonlySet<string> | undefined;
    let retry = false;
    if (ctx != null) {
      retry = ctx.retry === true;
      const given = ctx.key;
      if (typeof given === 'string') key = given;
      else if (typeof given === 'number') key = String(given);
      if (ctx.match != null) {
        candidates = this.candidates.matching(ctx.match);
        isPool = false;
      }
      if (ctx.exclude != null) exclude = toSet(ctx.exclude);
    }
    const state = this.state;
    state.now = now;
    state.key = key;
    state.isPool = isPool;

    const chosen =
      exclude === undefined ? this.choose(candidates) : this.chooseExcluding(candidates, exclude);
    if (chosen === undefined) {
      this.announceSwitch();
      throw this.noInstance(candidates, exclude, retry);
    }

    chosen.inflight += 1;
    this.builtin?.onLoad?.(chosen);
    const lease = new LeaseImpl(this, chosen, now);
    if (this.pendingSwitch !== undefined) this.announceSwitch();
    if (this.hasPickListeners) this.events.emit('pick', { service: this.service, lease });
    if (retry && this.hasRetryListeners) this.events.emit('retry', { service: this.service, lease });
    return lease;
  }

  /**
   * Called once per lease by `Lease.release`. Reads everything it needs from `outcome` before it
   * changes anything, so an outcome whose getter throws leaves no trace (see `settleUnreadable`).
   */
  settle(member: Member, startedAt: number, outcome: Outcome): void {
    const valid = typeof outcome === 'object' && outcome !== null;
    const ok = valid && outcome.ok === true;
    const given = valid ? outcome.latencyMs : undefined;
    const load = valid ? outcome.load : undefined;
    let latencyMs: number;
    let now: number;
    // A caller that measured the latency saves the clock read: the release happened at
    // startedAt + latency, or, if that claims a time after the latest pick, at least then: a
    // busy balancer picks often, and its latest pick is at most moments old. One that claims a
    // time long after it (a long request on a quiet service) reads the clock, so an instance
    // that just failed is not taken for one idle since that pick. Never later than the clock: a
    // latency in the wrong unit (µs for ms) must not date outcomes in the future. An
    // ejection's deadline, which needs the exact time, reads the clock itself.
    if (typeof given === 'number' && given >= 0 && given < Infinity) {
      latencyMs = given;
      now = Math.min(startedAt + given, this.lastPickAt);
      if (startedAt + given - now > OUTCOME_DATING_MS) now = this.lateOutcomeTime(startedAt + given);
    } else {
      now = this.clock();
      latencyMs = now > startedAt ? now - startedAt : 0;
    }

    member.inflight -= 1;
    member.lastLatencyMs = latencyMs;
    // Two field reads when nobody watches. Observers are one direct call (metrics' hot path);
    // listeners stay out of this function's size, which decides whether V8 inlines it. Before the
    // health model: a health-change listener may remove the instance, and its slot go to another.
    const observe = this.observeRelease;
    if (observe !== undefined) observe(member, ok, member.slot);
    if (member.draining) this.settleDraining(member, ok, now);
    else this.tracker.outcome(member, ok, latencyMs, load, now);
    const builtin = this.builtin;
    if (builtin !== undefined) {
      builtin.onOutcome?.(member, latencyMs, ok, now);
      builtin.onLoad?.(member);
    }
    if (this.releaseListeners !== undefined) this.announceRelease(member, outcome, ok);
  }

  /**
   * A release whose outcome threw while `settle` read it (a getter): settled as a failure, so
   * the in-flight count stays exact, and logged. The caller's bug is not the balancer's crash.
   */
  settleUnreadable(member: Member, startedAt: number, error: unknown): void {
    this.logger.warn(
      { service: this.service, instance: member.id, err: error },
      'ballast: release() got an outcome that could not be read; counted as a failure',
    );
    this.settle(member, startedAt, UNREADABLE_OUTCOME);
  }

  /**
   * The time of an outcome its latency dates long after the latest pick: then, not later than
   * now. Kept out of `settle`, which V8 must keep small enough to inline (see `settleDraining`).
   */
  private lateOutcomeTime(claimed: number): number {
    return Math.min(claimed, this.clock());
  }

  /** A user clock's invalid reading (see `guardClock`): logged once, the first time. */
  private badClock(reading: unknown): void {
    if (this.clockWarned) return;
    this.clockWarned = true;
    this.logger.warn(
      { service: this.service, reading: reading instanceof Error ? reading.message : describe(reading) },
      'ballast: the clock gave an invalid reading; using its last valid one',
    );
  }

  /**
   * The outcome of a removed member's last requests: its history only, no state change, and it
   * is forgotten with its last lease. Kept out of `settle`, whose bytecode size V8 counts against
   * the budget for inlining the release path (see `LeaseImpl.release`).
   */
  private settleDraining(member: Member, ok: boolean, now: number): void {
    this.tracker.model.record(member, ok, member.lastLatencyMs, now);
    // Its slot is free for the next add(); settle's strategy hooks still run for it first.
    if (member.inflight === 0) this.forget(member);
  }

  /** Emits `release`; the latency is `member.lastLatencyMs` (a double argument would be boxed). */
  private announceRelease(member: Member, outcome: Outcome, ok: boolean): void {
    const listeners = this.releaseListeners;
    if (listeners !== undefined)
      this.events.call('release', listeners, {
        service: this.service,
        instance: member,
        outcome: typeof outcome === 'object' && outcome !== null ? outcome : { ok },
        latencyMs: member.lastLatencyMs,
      });
  }

  add(input: InstanceInput): Instance {
    this.assertOpen();
    const spec = parseInstance(input, 'instance');
    if (this.byId.has(spec.id)) throw new InvalidConfigError('instance.id', spec.id, 'duplicate instance id');
    const member = this.insert(spec, this.clock(), true);
    this.logger.info(
      { service: this.service, instance: member.id, reason: 'added', state: member.state },
      'ballast: instance added',
    );
    // A newcomer can end a panic (announced now, not at the next pick), and start one only by
    // bringing back a lower priority tier, mostly unhealthy; only then does an add() pay for a
    // rebuild, so that adding n instances one by one stays O(n).
    const serving = this.candidates.servingPriority();
    if (this.tracker.panic || serving === undefined || member.priority < serving) this.candidates.current();
    return member;
  }

  reportCheck(id: string, ok: boolean): void {
    const member = this.byId.get(id);
    if (member === undefined || typeof ok !== 'boolean') return;
    this.tracker.check(member, ok, this.catchUp());
    this.candidates.current();
  }

  eject(id: string, reason: string): boolean {
    if (typeof reason !== 'string' || reason.length === 0 || reason.length > MAX_REASON_LENGTH)
      throw new InvalidConfigError(
        'reason',
        reason,
        `a non-empty string of at most ${MAX_REASON_LENGTH} characters`,
      );
    const member = this.byId.get(id);
    if (member === undefined) return false;
    const ejected = this.tracker.eject(member, this.catchUp(), reason);
    this.candidates.current();
    return ejected;
  }

  remove(id: string): boolean {
    const removed = this.removeMember(id, 'removed');
    // A panic the removal starts or ends is announced now (removal is O(n) already).
    if (removed) this.candidates.current();
    return removed;
  }

  /** Every state change logs its instance and reason: `removed` (by `remove()`) or `discovery`. */
  private removeMember(id: string, reason: string): boolean {
    const member = this.byId.get(id);
    if (member === undefined) return false;
    this.byId.delete(id);
    // Marked, and left out of the list at its next read: a discovery update that drops half of
    // a large pool filters it once, not once per instance. The mark also tells work already
    // under way over the old list (a maintenance tick whose listener removed it) to pass it by.
    member.draining = true;
    member.state = 'draining';
    this.listStale = true;
    this.membersChanged();
    if (member.inflight > 0) this.drainingMembers.add(member);
    else this.forget(member);
    this.events.emit('instance-removed', { service: this.service, instance: member });
    this.logger.info(
      { service: this.service, instance: id, reason, inflight: member.inflight },
      'ballast: instance removed',
    );
    return true;
  }

  update(id: string, patch: InstancePatch): Instance {
    const member = this.byId.get(id);
    if (member === undefined) throw new InvalidConfigError('id', id, 'no instance with this id');
    const valid = parsePatch(patch, 'patch');
    if (valid.weight !== undefined) {
      member.weight = valid.weight;
      member.effectiveWeight = valid.weight * member.slowStartFactor * member.loadFactor;
    }
    if (valid.zone !== undefined) member.zone = valid.zone;
    if (valid.metadata !== undefined) member.metadata = valid.metadata;
    if (valid.priority !== undefined) member.priority = valid.priority;
    this.membersChanged();
    this.events.emit('instance-updated', { service: this.service, instance: member });
    this.logger.info(
      { service: this.service, instance: id, reason: 'updated', fields: Object.keys(valid) },
      'ballast: instance updated',
    );
    // A move between priority tiers can start or end a panic: announced now.
    if (valid.priority !== undefined) this.candidates.current();
    return member;
  }

  get(id: string): Member | undefined {
    return this.byId.get(id);
  }

  insertDiscovered(spec: InstanceSpec, warm: boolean): void {
    const member = this.insert(spec, this.clock(), warm);
    this.logger.info(
      { service: this.service, instance: member.id, reason: 'discovery', state: member.state },
      'ballast: instance added',
    );
  }

  removeDiscovered(id: string): void {
    this.removeMember(id, 'discovery');
  }

  reconfigure(member: Member, spec: InstanceSpec): void {
    member.weight = spec.weight;
    member.effectiveWeight = spec.weight * member.slowStartFactor * member.loadFactor;
    member.zone = spec.zone;
    member.metadata = spec.metadata;
    member.priority = spec.priority;
    this.membersChanged();
    this.events.emit('instance-updated', { service: this.service, instance: member });
    this.logger.info(
      { service: this.service, instance: member.id, reason: 'discovery', weight: spec.weight },
      'ballast: instance updated',
    );
  }

  instances(): readonly Instance[] {
    this.catchUp();
    this.candidates.current();
    return this.members().slice();
  }

  snapshot(): BalancerSnapshot {
    this.catchUp();
    this.candidates.current();
    const instances: InstanceSnapshot[] = [];
    for (const m of this.members()) instances.push(snapshotOf(m));
    for (const m of this.drainingMembers) instances.push(snapshotOf(m));
    const active = this.impl instanceof Adaptive ? this.impl.current : this.strategy;
    return {
      service: this.service,
      strategy: this.strategy,
      activeStrategy: active,
      panic: this.tracker.panic,
      instances,
      ...(this.feed === undefined ? {} : { discovery: this.feed.snapshot() }),
      ...(this.closed ? { closed: true as const } : {}),
    };
  }

  observeReleases(observer: ReleaseObserver): () => void {
    if (typeof observer !== 'function')
      throw new InvalidConfigError('observer', observer, 'expected a function');
    this.setObservers([...(this.releaseObservers ?? []), observer]);
    let observing = true;
    return () => {
      if (!observing) return;
      observing = false;
      this.setObservers((this.releaseObservers ?? []).filter((o) => o !== observer));
    };
  }

  /**
   * Keeps the observers and composes the one call a release makes: each observer guarded, so one
   * that throws is logged and ignored, as a listener is, and never stops the others.
   */
  private setObservers(observers: readonly ReleaseObserver[]): void {
    const guarded = observers.map((observer): ReleaseObserver => (instance, ok, slot) => {
      try {
        observer(instance, ok, slot);
      } catch (error) {
        this.logger.error({ err: error, service: this.service }, 'ballast: release observer threw; ignored');
      }
    });
    this.releaseObservers = observers.length === 0 ? undefined : observers;
    this.observeRelease =
      guarded.length === 0
        ? undefined
        : guarded.length === 1
          ? guarded[0]
          : (instance, ok, slot) => {
              for (const call of guarded) call(instance, ok, slot);
            };
  }

  on<E extends BalancerEventName>(event: E, listener: Listener<E>): this {
    if (typeof listener !== 'function')
      throw new InvalidConfigError('listener', listener, 'expected a function');
    this.events.on(event, listener);
    this.listenersChanged();
    return this;
  }

  off<E extends BalancerEventName>(event: E, listener: Listener<E>): this {
    this.events.off(event, listener);
    this.listenersChanged();
    return this;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.feed?.stop();
    this.events.clear();
    // Release observers stay (their owners detach them): the leases still out finish after
    // close, and metrics count a request when its lease is released, whenever that is.
    this.listenersChanged();
  }

  /** Per-pick events are checked with a field read, not a map lookup. */
  private listenersChanged(): void {
    this.hasPickListeners = this.events.has('pick');
    this.releaseListeners = this.events.current('release');
    this.hasRetryListeners = this.events.has('retry');
  }

  private choose(candidates: readonly Member[]): Member | undefined {
    if (this.builtin !== undefined) return this.builtin.pick(candidates, this.state);
    return this.chooseCustom(candidates);
  }

  private chooseExcluding(candidates: readonly Member[], exclude: ReadonlySet<string>): Member | undefined {
    if (exclude.size === 0) return this.choose(candidates);
    // Random strategies draw independently, so a second draw is cheaper than filtering the pool.
    const builtin = this.builtin;
    if (builtin?.randomized === true) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const chosen = builtin.pick(candidates, this.state);
        if (chosen === undefined || !exclude.has(chosen.id)) return chosen;
      }
    } else if (builtin?.pickExcluding !== undefined) {
      const chosen = builtin.pickExcluding(candidates, this.state, exclude);
      if (chosen !== null) return chosen;
    }
    this.state.isPool = false;
    return this.choose(candidates.filter((m) => !exclude.has(m.id)));
  }

  private chooseCustom(candidates: readonly Member[]): Member | undefined {
    let chosen: unknown;
    try {
      chosen = this.impl.pick(candidates, this.state);
    } catch (error) {
      throw new BallastError('BALLAST_STRATEGY_ERROR', `Strategy "${this.strategyName}" threw`, {
        cause: error,
      });
    }
    if (chosen === undefined) return undefined;
    if (!(chosen instanceof Member) || !candidates.includes(chosen)) {
      throw new BallastError(
        'BALLAST_STRATEGY_ERROR',
        `Strategy "${this.strategyName}" returned something that is not one of the candidates`,
      );
    }
    return chosen;
  }

  private noInstance(
    candidates: readonly Member[],
    exclude: ReadonlySet<string> | undefined,
    retry: boolean,
  ): NoInstanceError {
    const live = this.members().length;
    const reason =
      live === 0
        ? this.feed?.waiting === true
          ? 'the pool is empty until discovery delivers its first list'
          : 'the pool is empty'
        : this.candidates.current().length === 0
          ? this.tracker.panic && this.tracker.config.failOnPanic
            ? `panic: too few of ${live} instances are healthy (failOnPanic)`
            : `none of ${live} instances is available`
          : candidates.length === 0
            ? 'no instance matches'
            : exclude !== undefined
              ? 'every candidate is excluded'
              : 'the strategy chose none';
    const error = new NoInstanceError(this.service, reason);
    // A retry that finds no other instance leaves the first attempt's answer standing: the
    // request was served, so it is not counted as one that found no instance.
    if (!retry) {
      this.events.emit('no-instance', { service: this.service, reason, error });
      this.logger.debug({ service: this.service, reason }, 'ballast: no instance available');
    }
    return error;
  }

  private insert(spec: InstanceSpec, now: number, warm: boolean): Member {
    const slot = this.freeSlots.pop() ?? this.slotCount++;
    const member = new Member(spec, slot, now);
    this.byId.set(member.id, member);
    this.list.push(member);
    this.tracker.joined(member, now, warm);
    this.membersChanged();
    this.events.emit('instance-added', { service: this.service, instance: member });
    return member;
  }

  /** Drops a removed member for good, once it has no lease left. */
  private forget(member: Member): void {
    this.drainingMembers.delete(member);
    this.freeSlots.push(member.slot);
  }

  /**
   * Adaptive switches from inside a pick, between reading the candidates and counting the chosen
   * one in flight: a listener called there that removed an instance got it back from that very
   * pick, a lease on an instance no longer in the balancer (and its slot free for the next add).
   * So the switch is announced once the pick is done, as `pick` itself is.
   */
  strategyChanged(from: string, to: string, reason: string, signals: Readonly<Record<string, number>>): void {
    this.pendingSwitch = { service: this.service, from, to, reason, signals };
  }

  private announceSwitch(): void {
    const change = this.pendingSwitch;
    if (change === undefined) return;
    this.pendingSwitch = undefined;
    this.events.emit('strategy-change', change);
    const { service, from, to, reason, signals } = change;
    this.logger.info({ service, from, to, reason, ...signals }, 'ballast: strategy switched');
  }

  now(): number {
    return this.clock();
  }

  /**
   * Runs the health work that is due (ejections ending, the maintenance tick), as `pick()` does,
   * for the calls that change or report state between picks; returns the time. Callers then
   * settle the pool with `candidates.current()`, which emits `panic` on entry or exit: without
   * both, an idle balancer reported a change only at its next pick.
   */
  private catchUp(): number {
    const now = this.clock();
    if (now >= this.tracker.nextDueAt) this.tracker.maintain(now);
    return now;
  }

  poolChanged(): void {
    this.candidates.invalidate();
  }

  refreshPool(): void {
    this.candidates.current();
  }

  private membersChanged(): void {
    this.membersVersion += 1;
    this.candidates.invalidate();
  }

  private assertOpen(): void {
    if (this.closed)
      throw new BallastError('BALLAST_CLOSED', `Balancer for service "${this.service}" is closed`);
  }
}

function toSet(ids: Iterable<string>): ReadonlySet<string> | undefined {
  if (ids instanceof Set) return ids as ReadonlySet<string>;
  // A lone id where a list was meant: honour it rather than iterate its characters.
  if (typeof ids === 'string') return new Set([ids]);
  if (typeof (ids as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== 'function') return undefined;
  const set = new Set<string>();
  for (const id of ids) if (typeof id === 'string') set.add(id);
  return set;
}
