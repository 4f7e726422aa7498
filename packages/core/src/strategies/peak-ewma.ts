/**
 * Peak EWMA: the power of two choices over a latency-aware cost,
 *
 *     cost = peakEwma(latency) × (in-flight + 1) / effective weight
 *
 * The latency estimate is "peak-sensitive": a response slower than the estimate replaces it at
 * once, a faster one pulls it down with an exponential weight `w = exp(-Δt / τ)`, and while no
 * response arrives the estimate decays toward zero, so an instance that was slow once is probed
 * again later instead of starving. An instance with no data yet is assumed to be as fast as the
 * pool's recent average (an EWMA over its successful samples; `defaultRttMs` before the first), so a
 * new instance competes fairly instead of being shunned or flooded. A failed
 * request counts as a sample of at least `failurePenaltyMs`, so an instance that fails fast does
 * not look fast and attract traffic.
 *
 * Reference: Finagle's PeakEwma balancer (Twitter, 2016), as used by Linkerd and tower's
 * `PeakEwma`. Choose it when instances differ in speed or a slow instance must be routed
 * around quickly; it is the best default for latency-sensitive services. O(1) per pick.
 */
import type { Member } from '../instance';
import type { StrategyContext } from '../types';
import { choiceOfTwo, choiceOfTwoExcluding, type BuiltinStrategy } from './strategy';
import { readOptions } from '../options';

/** Weight of one sample in the pool average: roughly the last hundred samples count. */
const POOL_ALPHA = 0.01;

export interface PeakEwmaOptions {
  /** Decay time constant τ in ms. Default 10 000. */
  readonly decayMs?: number;
  /** Latency assumed for an instance with no sample while the pool has none either, ms. Default 30. */
  readonly defaultRttMs?: number;
  /** Smallest latency sample recorded for a failed request, ms. Default 1 000. */
  readonly failurePenaltyMs?: number;
}

export class PeakEwma implements BuiltinStrategy {
  readonly name = 'peak-ewma';
  // Number initializers keep these fields unboxed doubles (see Member).
  /** 1 / τ: decay exponents are multiplied by it, not divided by τ. */
  private readonly decayRate: number = 0;
  /** EWMA of every sample in the pool: the estimate for instances that have none of their own. */
  private poolAverageMs = 0;
  private pooled = false;
  private readonly failurePenaltyMs: number = 0;
  private readonly cost: (member: Member, now: number) => number;

  constructor(options: PeakEwmaOptions = {}, field = 'strategy') {
    const o = readOptions(options, field, ['decayMs', 'defaultRttMs', 'failurePenaltyMs'], true);
    // Finite even for a subnormal decayMs: 0 ms elapsed × Infinity would be NaN (a stuck estimate).
    this.decayRate = Math.min(1 / o.positive('decayMs', 10_000), Number.MAX_VALUE);
    this.poolAverageMs = o.positive('defaultRttMs', 30);
    this.failurePenaltyMs = o.nonNegative('failurePenaltyMs', 5_000);
    // The body of `estimate`, inlined: this runs twice per pick. `choiceOfTwo` divides by the
    // effective weight (by cross-multiplying).
    this.cost = (member, now) => {
      const stored = member.peakEwmaMs;
      const elapsed = now - member.peakEwmaAt;
      const estimate =
        stored < 0 ? this.poolAverageMs : elapsed > 0 ? stored * decay(elapsed * this.decayRate) : stored;
      return estimate * (member.inflight + 1);
    };
  }

  pick(candidates: readonly Member[], ctx: StrategyContext): Member | undefined {
    return choiceOfTwo(candidates, ctx.random, ctx.now, this.cost);
  }

  pickExcluding(
    candidates: readonly Member[],
    ctx: StrategyContext,
    exclude: ReadonlySet<string>,
  ): Member | null {
    return choiceOfTwoExcluding(candidates, ctx.random, ctx.now, this.cost, exclude);
  }

  onOutcome(member: Member, latencyMs: number, ok: boolean, now: number): void {
    const sample = ok ? latencyMs : Math.max(latencyMs, this.failurePenaltyMs);
    // The pool average learns from successes only: a failure penalty in it would make every
    // unsampled instance look as bad as a failing one.
    if (ok) {
      if (this.pooled) this.poolAverageMs += POOL_ALPHA * (latencyMs - this.poolAverageMs);
      else this.poolAverageMs = latencyMs;
      this.pooled = true;
    }
    // As tower and Finagle: a slower sample replaces the estimate, a faster one is blended in
    // with the weight of the time since the last one.
    const stored = member.peakEwmaMs;
    if (stored < 0 || sample > stored) {
      member.peakEwmaMs = sample;
    } else {
      const w = decay((now > member.peakEwmaAt ? now - member.peakEwmaAt : 0) * this.decayRate);
      member.peakEwmaMs = stored * w + sample * (1 - w);
    }
    member.peakEwmaAt = now;
  }

  /** The latency estimate at `now`, ms: decayed toward zero since the last sample. */
  estimate(member: Member, now: number): number {
    if (member.peakEwmaMs < 0) return this.poolAverageMs;
    const elapsed = now - member.peakEwmaAt;
    return elapsed > 0 ? member.peakEwmaMs * decay(elapsed * this.decayRate) : member.peakEwmaMs;
  }
}

/**
 * exp(-x) for x >= 0. Between picks x is tiny (a millisecond over a 10 s τ), where three terms of
 * the series are exact to 1e-9 and cost a fraction of `Math.exp`, which runs twice per pick.
 */
function decay(x: number): number {
  return x < 1e-3 ? 1 - x + (x * x) / 2 : Math.exp(-x);
}
