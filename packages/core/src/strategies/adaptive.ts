/**
 * Adaptive: delegates to `least-connections` while instances answer alike and to `peak-ewma`
 * while their latencies diverge, switching on a smoothed signal with hysteresis.
 *
 * The old Datapunk balancer switched on one sample of load variance against fixed thresholds, so
 * it flapped. Here, once per `sampleIntervalMs` (250 ms), two imbalance signals are measured over the
 * pool (the instances in service: one taken out keeps the latency it had, which says nothing of
 * the pool any more), each as a coefficient of variation (standard deviation / mean): of latency (each
 * instance's latency average) and of load (in-flight / weight). Each is smoothed with an EWMA
 * (`smoothing` 0.3 per sample: a change must persist for about a second to count). The strategy
 * moves to `peak-ewma` when the latency signal rises above `enterLatencyCv` (0.5: one instance
 * about 2× slower than the rest of a pool of three) and back only when it falls below
 * `exitLatencyCv` (0.2), and never sooner than `minDwellMs` (10 s) after the last switch: a signal
 * oscillating between the two thresholds causes no switch at all.
 *
 * Why these two: with homogeneous instances, joining the shortest queue (least connections) is
 * the best a balancer can do, and latency estimates only add noise; when some instances are
 * slower, queue length no longer predicts wait and a latency-aware cost wins. Both delegates see
 * every pick, release and outcome whichever is active, so a switch finds them warm. Each switch
 * emits `strategy-change` with the signal values that caused it.
 */
import { InvalidConfigError } from '../errors';
import type { Member } from '../instance';
import { readOptions } from '../options';
import { LeastConnections } from './least-connections';
import { PeakEwma } from './peak-ewma';
import type { BuiltinContext, BuiltinStrategy, StrategyHost } from './strategy';

/** Options of `{ name: 'adaptive', ... }`; the reasoning behind each default is above. */
export interface AdaptiveOptions {
  /** Smoothed latency CV above which `peak-ewma` takes over. Default 0.5. */
  readonly enterLatencyCv?: number;
  /** Smoothed latency CV below which `least-connections` returns; below `enterLatencyCv`. Default 0.2. */
  readonly exitLatencyCv?: number;
  /** Least time between two switches, ms. Default 10 000. */
  readonly minDwellMs?: number;
  /** Time between two samples of the signals (taken by a pick), ms. Default 250. */
  readonly sampleIntervalMs?: number;
  /** Weight of one sample in the signals' EWMA, above 0 and up to 1. Default 0.3. */
  readonly smoothing?: number;
}

export class Adaptive implements BuiltinStrategy {
  readonly name = 'adaptive';
  private readonly balanced = new LeastConnections();
  private readonly latencyAware = new PeakEwma();
  private active: BuiltinStrategy = this.balanced;
  private readonly enter: number;
  private readonly exit: number;
  private readonly dwellMs: number;
  private readonly intervalMs: number;
  private readonly smoothing: number;
  private nextSampleAt = -Infinity;
  private lastSwitchAt = -Infinity;
  /** Smoothed coefficients of variation: latency and load. */
  latencySignal = 0;
  loadSignal = 0;

  constructor(
    private readonly host: StrategyHost,
    options: AdaptiveOptions = {},
    field = 'strategy',
  ) {
    const o = readOptions(
      options,
      field,
      ['enterLatencyCv', 'exitLatencyCv', 'minDwellMs', 'sampleIntervalMs', 'smoothing'],
      true,
    );
    this.enter = o.positive('enterLatencyCv', 0.5);
    this.exit = o.nonNegative('exitLatencyCv', 0.2);
    if (this.exit >= this.enter) {
      // Without a gap between the thresholds there is no hysteresis.
      throw new InvalidConfigError(
        `${field}.exitLatencyCv`,
        this.exit,
        `expected less than enterLatencyCv (${this.enter})`,
      );
    }
    this.dwellMs = o.nonNegative('minDwellMs', 10_000);
    this.intervalMs = o.positive('sampleIntervalMs', 250);
    // 0 would freeze the signals at their start: adaptive would never switch, and say nothing.
    this.smoothing = o.positiveFraction('smoothing', 0.3);
  }

  /** The delegate in use. */
  get current(): string {
    return this.active.name;
  }

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (ctx.now >= this.nextSampleAt) this.sample(ctx.now, this.host.pool());
    return this.active.pick(candidates, ctx);
  }

  onLoad(member: Member): void {
    this.balanced.onLoad(member);
  }

  onOutcome(member: Member, latencyMs: number, ok: boolean, now: number): void {
    this.latencyAware.onOutcome(member, latencyMs, ok, now);
  }

  private sample(now: number, members: readonly Member[]): void {
    this.nextSampleAt = now + this.intervalMs;
    const latency = variation(members, (m) => (m.latencyMs > 0 ? m.latencyMs : undefined));
    const load = variation(members, inflightPerWeight);
    this.latencySignal += this.smoothing * (latency - this.latencySignal);
    this.loadSignal += this.smoothing * (load - this.loadSignal);
    if (now - this.lastSwitchAt < this.dwellMs) return;
    const next =
      this.active === this.balanced && this.latencySignal > this.enter
        ? this.latencyAware
        : this.active === this.latencyAware && this.latencySignal < this.exit
          ? this.balanced
          : this.active;
    if (next === this.active) return;
    const from = this.active.name;
    this.active = next;
    this.lastSwitchAt = now;
    const reason = next === this.latencyAware ? 'latency diverged' : 'latency converged';
    this.host.strategyChanged(from, next.name, reason, {
      latencyCv: this.latencySignal,
      loadCv: this.loadSignal,
    });
  }
}

/**
 * A member's load for the imbalance signal: in-flight requests per unit of effective weight. Not
 * `loadOf`, least-connections' key: its + 1 (the request about to be sent) reads 1, 1 and 0.5 on
 * an idle pool of weights 1, 1 and 2, a CV of 0.28 where nothing is out of balance.
 */
function inflightPerWeight(member: Member): number {
  return member.inflight / member.effectiveWeight;
}

/** Coefficient of variation of `value` over the members that have one; 0 with fewer than two. */
function variation(members: readonly Member[], value: (m: Member) => number | undefined): number {
  // Values are scaled by the largest first (the ratio does not change): a latency of 1e160 ms
  // squared is Infinity, the variance Infinity - Infinity, and one NaN sample froze the signal.
  let scale = 0;
  for (const m of members) {
    const v = value(m);
    if (v !== undefined && Number.isFinite(v) && Math.abs(v) > scale) scale = Math.abs(v);
  }
  if (scale === 0) return 0;
  let n = 0;
  let sum = 0;
  let squares = 0;
  for (const m of members) {
    let v = value(m);
    if (v === undefined || !Number.isFinite(v)) continue;
    v /= scale;
    n += 1;
    sum += v;
    squares += v * v;
  }
  if (n < 2 || sum <= 0) return 0;
  const mean = sum / n;
  return Math.sqrt(Math.max(0, squares / n - mean * mean)) / mean;
}
