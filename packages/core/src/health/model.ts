/**
 * The health model, in its first form: a score in [0, 1] per instance from passive outcomes.
 *
 *     successRate ← successRate + α × (outcome − successRate)    outcome 1 = success, 0 = failure
 *     health      = successRate
 *
 * α = 1 / `window` (default 10 outcomes), so 7 consecutive failures take a perfect instance
 * below the default threshold of 0.5, and one failure in a healthy stream costs 0.1. An
 * instance below the threshold receives no traffic, so it cannot earn its way back; instead its
 * score recovers toward 1 with time, with half-life `recoveryHalfLifeMs`, and it is tried again
 * once it crosses the threshold (a failure then sends it straight back).
 *
 * Latency is tracked as an EWMA with the same α for reporting and for later use.
 */
import type { Member } from '../instance';
import { readOptions } from '../options';

export interface HealthConfig {
  readonly threshold: number;
  readonly window: number;
  readonly recoveryHalfLifeMs: number;
}

export function parseHealthOptions(options: unknown, field = 'health'): HealthConfig {
  const o = readOptions(options ?? {}, field, ['threshold', 'window', 'recoveryHalfLifeMs']);
  return {
    threshold: o.fraction('threshold', 0.5),
    window: o.integer('window', 10, 1, 100_000),
    recoveryHalfLifeMs: o.positive('recoveryHalfLifeMs', 10_000),
  };
}

export class HealthModel {
  private readonly alpha: number;

  constructor(readonly config: HealthConfig) {
    this.alpha = 1 / config.window;
  }

  /** Folds one released outcome into the member's statistics and score. */
  record(member: Member, ok: boolean, latencyMs: number, now: number): void {
    const alpha = this.alpha;
    member.requests += 1;
    member.history = ((member.history << 1) | (ok ? 0 : 1)) >>> 0;
    if (member.historyLength < 32) member.historyLength += 1;
    if (ok) {
      member.consecutiveFailures = 0;
    } else {
      member.failures += 1;
      member.consecutiveFailures += 1;
    }
    member.successRate += alpha * ((ok ? 1 : 0) - member.successRate);
    member.latencyMs =
      member.latencyMs === 0 ? latencyMs : member.latencyMs + alpha * (latencyMs - member.latencyMs);
    member.lastOutcomeAt = now;
    member.health = clamp01(member.successRate);
  }

  /** Lets an idle member's score drift back toward 1 over `elapsedMs` without outcomes. */
  recover(member: Member, elapsedMs: number): void {
    if (member.successRate >= 1 || elapsedMs <= 0) return;
    const keep = Math.pow(2, -elapsedMs / this.config.recoveryHalfLifeMs);
    member.successRate = 1 - (1 - member.successRate) * keep;
    member.health = clamp01(member.successRate);
  }

  isHealthy(member: Member): boolean {
    return member.health >= this.config.threshold;
  }
}

function clamp01(x: number): number {
  return x > 1 ? 1 : x > 0 ? x : 0;
}
