/**
 * The health tracker turns scores, ejections, slow start and server-reported load into each
 * instance's state and effective weight, and decides which instances form the pool.
 *
 * - **Outlier ejection** (Envoy's and gRPC's rules and defaults): `consecutiveFailures` (5)
 *   ejects at the failure that reaches it; every `intervalMs` (10 s) a sweep ejects by success
 *   rate (more than `stdevFactor` 1.9 standard deviations below the mean, among at least 5 hosts
 *   with 100 requests in the interval) and by failure percentage (85 % or more, among at least 5
 *   hosts with 50 requests). An ejection lasts `baseEjectionMs` (30 s) times the instance's
 *   consecutive ejections, at most `maxEjectionMs` (300 s); the count decays by one per clean
 *   interval. At most `maxEjectionPercent` (10 %) of the pool is ejected at once, except that a
 *   pool of 2 to 9 can always eject one (Envoy and gRPC round 10 % of 9 down to none). An
 *   ejected instance returns the moment its time is up, checked on the next pick rather than the
 *   next sweep, or as soon as an active check passes. An instance back from ejection or from a
 *   low score is on probation for the slow-start window: one failure ejects it (again), for the
 *   next, longer, period.
 * - **Hysteresis**: an instance whose score fell below the threshold returns only through the
 *   maintenance tick (its idle recovery) or a passed check, never on the successes of requests
 *   it had in flight, so one failing half its requests does not flip in and out at the line.
 * - **Slow start** (Envoy's formula): an instance that joins a running pool, or returns from
 *   ejection or unhealthiness, has its weight scaled by max(minWeightPercent, (t / window)^(1 /
 *   aggression)) for `windowMs` (30 s). Not at start-up, when every instance is new.
 * - **Server-reported load** (gRPC weighted round robin): with utilization u reported on
 *   outcomes, an instance's weight is scaled by its capacity estimate qps / (u + eps / qps ×
 *   penalty), relative to the mean of the instances that report, with qps and eps (errors per
 *   second) measured here and smoothed over 10 s; a report counts only after a
 *   `blackoutMs` (10 s) of steady reporting and expires after `expiryMs` (3 min) of silence.
 * - **Panic**: when fewer than `panicThreshold` (50 %) of the instances are healthy the pool
 *   becomes every instance that is not ejected (or none, with `failOnPanic`), rather than
 *   piling the whole load onto the few.
 */
import type { Events } from '../events';
import type { Member } from '../instance';
import type { InstanceState, Logger } from '../types';
import { HealthModel } from './model';
import type { HealthConfig, OutlierConfig } from './options';
import { rampSlowStart, reportLoad, updateLoadFactors } from './weight';

export interface TrackerHost {
  readonly service: string;
  readonly events: Events;
  readonly logger: Logger;
  /** Live members (not draining). */
  members(): readonly Member[];
  /** Eligibility or an effective weight changed: the pool must be rebuilt. */
  poolChanged(): void;
  /** Rebuilds the pool now if it changed, announcing a panic that starts or ends. */
  refreshPool(): void;
  /** The balancer's clock, read afresh (outcomes may carry a slightly earlier time). */
  now(): number;
}

/** The longest maintenance period; slow start ramps in finer steps. */
const MAX_TICK_MS = 1_000;

export class HealthTracker {
  readonly model: HealthModel;
  // Number initializers keep these fields unboxed doubles (see Member).
  /** The next time `maintain()` has work: a tick or an ejection ending. */
  nextDueAt = 0;
  panic = false;
  /** A panic change found by `buildPool`, not yet announced (see `announcePanic`). */
  private panicChange: { healthy: number; total: number } | undefined;

  private readonly tickMs: number = 0;
  private nextTickAt = 0;
  private lastTickAt = 0;
  /** Start of the current once-a-second period (latency comparison, load factors). */
  private periodStartAt = 0;
  private nextSweepAt = 0;
  private nextRestoreAt = Infinity;
  private lastSweepAt = -Infinity;

  constructor(
    readonly config: HealthConfig,
    private readonly host: TrackerHost,
    now: number,
  ) {
    this.model = new HealthModel(config);
    this.tickMs =
      config.slowStart === false ? MAX_TICK_MS : Math.min(MAX_TICK_MS, config.slowStart.windowMs / 20);
    this.lastTickAt = now;
    this.periodStartAt = now;
    this.nextTickAt = now + this.tickMs;
    this.nextSweepAt = config.outlier === false ? Infinity : now + config.outlier.intervalMs;
    this.nextDueAt = this.nextTickAt;
  }

  /** A member joins. `warm` says whether the pool was already serving (then it slow-starts). */
  joined(member: Member, now: number, warm: boolean): void {
    member.intervalRequests = member.periodRequests = member.requests;
    member.intervalFailures = member.periodFailures = member.failures;
    if (warm && this.config.slowStart !== false && this.hasServingMember(member)) {
      this.startSlowStart(member, now);
      member.state = 'slow-start';
    }
  }

  /**
   * Folds in one released outcome; returns nothing, emits what changed. Small on purpose: it is
   * inlined into every release, and a failure's work is a call away.
   */
  outcome(member: Member, ok: boolean, latencyMs: number, load: unknown, now: number): void {
    this.model.record(member, ok, latencyMs, now);
    if (typeof load === 'number') reportLoad(member, load, now, this.config.load);
    // Passive outcomes can take an instance out but not bring it back: successes of requests
    // that were already in flight would otherwise flip it in and out at the threshold. So a
    // success never changes a state, and the hot path skips the reassessment.
    if (!ok) this.failed(member, now);
  }

  /** After a failed outcome: ejection by consecutive failures or on probation, then the state. */
  private failed(member: Member, now: number): void {
    // An ejection whose time is up may not have been ended yet (no pick or check since): end it
    // first, on the true present, so that a late failure of a request sent before it is judged
    // as a failure on probation and every eject follows its restore.
    if (member.ejectedUntil !== 0) {
      const present = this.host.now();
      if (member.ejectedUntil <= present) this.restore(member, present, 'ejection-expired');
    }
    const outlier = this.config.outlier;
    if (outlier !== false) {
      if (outlier.consecutiveFailures > 0 && member.consecutiveFailures >= outlier.consecutiveFailures) {
        this.eject(member, now, 'consecutive-failures');
      } else if (member.restoredAt >= 0 && now - member.restoredAt < this.probationMs(outlier)) {
        // Probation: an instance just back from ejection that fails again is still broken.
        this.eject(member, now, 'failed-on-probation');
      }
    }
    this.reassess(member, now, 'failure');
    // Between picks too: a failure that starts a panic is announced with it, not at the next pick.
    this.host.refreshPool();
  }

  /** How long after a restore one failure re-ejects: the slow-start window, or one base ejection. */
  private probationMs(outlier: OutlierConfig): number {
    return this.config.slowStart === false ? outlier.baseEjectionMs : this.config.slowStart.windowMs;
  }

  /**
   * An active check result. A pass also ends an ejection early, and a low-score exclusion: an
   * instance out on its score gets no traffic to earn it back with, so without a clean record a
   * pass would leave it out until idle recovery, which the hysteresis promises a pass ends. Back
   * in, it is on probation as after an ejection (see `reassess`).
   */
  check(member: Member, ok: boolean, now: number): void {
    member.checkOk = ok;
    this.model.score(member);
    if (ok && member.ejectedUntil > now) {
      this.restore(member, now, 'check-passed');
      return;
    }
    if (ok && !this.model.isHealthy(member)) {
      member.consecutiveFailures = 0;
      member.successRate = 1;
      member.latencyScore = 1;
      this.model.score(member);
    }
    this.reassess(member, now, ok ? 'check-passed' : 'check-failed');
  }

  stateOf(member: Member, now: number): InstanceState {
    if (member.draining) return 'draining';
    if (member.ejectedUntil > now) return 'ejected';
    if (!this.model.isHealthy(member)) return 'unhealthy';
    return member.slowStartAt >= 0 ? 'slow-start' : 'healthy';
  }

  /** Moves a member to the state its numbers say, with events and a log line on change. */
  reassess(member: Member, now: number, reason: string): void {
    const to = this.stateOf(member, now);
    const from = member.state;
    if (to === from) return;
    member.state = to;
    if ((from === 'unhealthy' || from === 'ejected') && (to === 'healthy' || to === 'slow-start')) {
      // Back from trouble: on probation (one failure ejects, with the growing ejection time, so
      // an instance failing half its requests is not let back every second), and ramping up
      // like a newcomer (a newcomer that fell during its ramp starts it again).
      member.restoredAt = now;
      if (this.config.slowStart !== false && this.hasServingMember(member)) {
        this.startSlowStart(member, now);
        member.state = 'slow-start';
      }
    }
    this.host.poolChanged();
    const { service, events, logger } = this.host;
    events.emit('health-change', { service, instance: member, from, to: member.state, reason });
    const level = to === 'unhealthy' || to === 'ejected' ? 'warn' : 'info';
    logger[level](
      { service, instance: member.id, from, to: member.state, reason, health: member.health },
      'ballast: instance state changed',
    );
  }

  /** The pool: eligible members, or in panic every member not ejected (none with failOnPanic). */
  buildPool(members: readonly Member[]): Member[] {
    const pool: Member[] = [];
    for (const m of members) {
      m.eligible = m.state === 'healthy' || m.state === 'slow-start';
      if (m.eligible) pool.push(m);
    }
    const panic = members.length > 0 && pool.length < this.config.panicThreshold * members.length;
    if (panic !== this.panic) {
      this.panic = panic;
      this.panicChange = { healthy: pool.length, total: members.length };
    }
    if (!panic) return pool;
    if (this.config.failOnPanic) {
      for (const m of pool) m.eligible = false;
      return [];
    }
    const all: Member[] = [];
    for (const m of members) {
      m.eligible = m.state !== 'ejected';
      if (m.eligible) all.push(m);
    }
    return all;
  }

  /**
   * Emits and logs the panic change the last `buildPool` found. Called once the pool it built is
   * in place: a listener that picks must get the new pool, never the one before the change.
   */
  announcePanic(): void {
    const change = this.panicChange;
    if (change === undefined) return;
    this.panicChange = undefined;
    const { service, events, logger } = this.host;
    const active = this.panic;
    const reason = active ? 'too-few-healthy' : 'enough-healthy';
    events.emit('panic', { service, active, reason, ...change });
    logger[active ? 'warn' : 'info'](
      { service, reason, ...change },
      active ? 'ballast: panic mode, balancing over every instance' : 'ballast: panic mode over',
    );
  }

  /** Periodic and deadline work, run from `pick()` when `now >= nextDueAt`. */
  maintain(now: number): void {
    const members = this.host.members();
    if (now >= this.nextRestoreAt) {
      this.nextRestoreAt = Infinity;
      for (const m of members) {
        if (m.ejectedUntil === 0) continue;
        if (m.ejectedUntil <= now) this.restore(m, now, 'ejection-expired');
        else this.nextRestoreAt = Math.min(this.nextRestoreAt, m.ejectedUntil);
      }
    }
    if (now >= this.nextTickAt) this.tick(members, now);
    this.nextDueAt = Math.min(this.nextTickAt, this.nextRestoreAt);
  }

  private tick(members: readonly Member[], now: number): void {
    const since = this.lastTickAt;
    this.lastTickAt = now;
    this.nextTickAt = now + this.tickMs;
    let weightsChanged = false;
    // The period is measured on its own: with slow start's shorter ticks (windowMs / 20), the
    // time since the last tick never reaches a second, and latency was never compared.
    const periodMs = now - this.periodStartAt;
    if (periodMs >= MAX_TICK_MS || this.tickMs >= MAX_TICK_MS) {
      const periodStart = this.periodStartAt;
      this.periodStartAt = now;
      weightsChanged = updateLoadFactors(members, periodMs, now, this.config.load);
      this.model.compareLatency(members, periodStart);
    }
    for (const m of members) {
      // Only members idle for a tick recover: one in use is judged by its outcomes.
      if ((m.successRate < 1 || m.latencyScore < 1) && m.lastOutcomeAt <= now - this.tickMs) {
        this.model.recover(m, now - Math.max(since, m.lastOutcomeAt));
      }
      if (m.slowStartAt >= 0) rampSlowStart(m, now, this.config.slowStart);
      const weight = m.weight * m.slowStartFactor * m.loadFactor;
      if (weight !== m.effectiveWeight) {
        m.effectiveWeight = weight;
        weightsChanged = true;
      }
      this.reassess(m, now, 'maintenance');
    }
    if (now >= this.nextSweepAt && this.config.outlier !== false) {
      this.nextSweepAt = now + this.config.outlier.intervalMs;
      this.sweep(members, this.config.outlier, now);
      this.lastSweepAt = now;
    }
    if (weightsChanged) this.host.poolChanged();
  }

  /** The interval sweep: success-rate and failure-percentage ejection, and multiplier decay. */
  private sweep(members: readonly Member[], outlier: OutlierConfig, now: number): void {
    const rates: { member: Member; volume: number; failures: number; successRate: number }[] = [];
    for (const m of members) {
      const volume = m.requests - m.intervalRequests;
      const failures = m.failures - m.intervalFailures;
      m.intervalRequests = m.requests;
      m.intervalFailures = m.failures;
      if (m.ejectedUntil === 0 && m.ejections > 0) {
        // One step per interval clean of ejections, as Envoy's multiplier, however few sweeps
        // ran meanwhile: a quiet service sweeps only when it is next used.
        const clean = Math.floor((now - Math.max(m.restoredAt, this.lastSweepAt)) / outlier.intervalMs);
        if (clean > 0) m.ejections = Math.max(0, m.ejections - clean);
      }
      if (volume > 0) rates.push({ member: m, volume, failures, successRate: (volume - failures) / volume });
    }
    const sr = outlier.successRate;
    if (sr !== false) {
      const eligible = rates.filter((r) => r.volume >= sr.requestVolume);
      if (eligible.length >= sr.minimumHosts) {
        const mean = eligible.reduce((sum, r) => sum + r.successRate, 0) / eligible.length;
        const variance = eligible.reduce((sum, r) => sum + (r.successRate - mean) ** 2, 0) / eligible.length;
        const limit = mean - sr.stdevFactor * Math.sqrt(variance);
        for (const r of eligible) if (r.successRate < limit) this.eject(r.member, now, 'success-rate');
      }
    }
    const fp = outlier.failurePercentage;
    if (fp !== false) {
      const eligible = rates.filter((r) => r.volume >= fp.requestVolume);
      if (eligible.length >= fp.minimumHosts) {
        // In integers: (1 - rate) × 100 rounds 10 failures in 100 to 9.999…, below a 10 % threshold.
        for (const r of eligible)
          if (r.failures * 100 >= fp.threshold * r.volume) this.eject(r.member, now, 'failure-percentage');
      }
    }
  }

  /** Ejects `member` unless outlier ejection is off or the cap is reached; returns whether it is out. */
  eject(member: Member, at: number, reason: string): boolean {
    // Removed while a sweep over the old list was under way (by a listener): nothing to eject.
    if (member.draining) return false;
    const outlier = this.config.outlier;
    // An ejection's deadline is measured from the true present, which an outcome's time (taken
    // from the latest pick to save a clock read) may trail. Ejections are rare; the read is not.
    const now = Math.max(at, this.host.now());
    if (outlier === false) return false;
    if (member.ejectedUntil > now) return true;
    const members = this.host.members();
    let ejected = 0;
    for (const m of members) if (m.ejectedUntil > now) ejected += 1;
    const cap =
      outlier.maxEjectionPercent === 0
        ? 0
        : Math.max(
            Math.floor((members.length * outlier.maxEjectionPercent) / 100),
            members.length >= 2 ? 1 : 0,
          );
    if (ejected >= cap) {
      this.host.logger.debug(
        { service: this.host.service, instance: member.id, reason, ejected, cap },
        'ballast: ejection skipped, cap reached',
      );
      return false;
    }
    member.ejections += 1;
    const durationMs = Math.min(
      outlier.baseEjectionMs * member.ejections,
      Math.max(outlier.baseEjectionMs, outlier.maxEjectionMs),
    );
    member.ejectedUntil = now + durationMs;
    member.slowStartAt = -1;
    member.slowStartFactor = 1;
    this.nextRestoreAt = Math.min(this.nextRestoreAt, member.ejectedUntil);
    this.nextDueAt = Math.min(this.nextDueAt, this.nextRestoreAt);
    // State first, then the event: a listener that reads the state or picks sees the ejection.
    this.reassess(member, now, reason);
    const { service, events, logger } = this.host;
    events.emit('eject', { service, instance: member, reason, untilMs: member.ejectedUntil });
    logger.warn(
      { service, instance: member.id, reason, durationMs, ejections: member.ejections },
      'ballast: instance ejected',
    );
    return true;
  }

  private restore(member: Member, now: number, reason: string): void {
    if (member.draining) return;
    // An ejection that ran out ended at its deadline, which a quiet service notices late (at its
    // next pick): its clean time, over which the multiplier decays, counts from then.
    const endedAt = reason === 'ejection-expired' ? Math.min(member.ejectedUntil, now) : now;
    member.ejectedUntil = 0;
    // The ejection was the penalty; the instance starts over with a clean record (timeouts that
    // got it ejected left their mark on the latency score too).
    member.consecutiveFailures = 0;
    member.successRate = 1;
    member.latencyScore = 1;
    this.model.score(member);
    this.reassess(member, now, reason);
    member.restoredAt = endedAt;
    const { service, events, logger } = this.host;
    events.emit('restore', { service, instance: member, reason });
    logger.info({ service, instance: member.id, reason }, 'ballast: instance restored');
  }

  private startSlowStart(member: Member, now: number): void {
    member.slowStartAt = now;
    rampSlowStart(member, now, this.config.slowStart);
    member.effectiveWeight = member.weight * member.slowStartFactor * member.loadFactor;
    this.nextTickAt = Math.min(this.nextTickAt, now + this.tickMs);
  }

  /** Whether some other member is serving normally (so a newcomer is joining a warm pool). */
  private hasServingMember(except: Member): boolean {
    for (const m of this.host.members()) if (m !== except && m.state === 'healthy') return true;
    return false;
  }
}
