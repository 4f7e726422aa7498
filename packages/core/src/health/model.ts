/**
 * The health score of an instance, in [0, 1]:
 *
 *     health = successRate × latencyScore × check
 *
 * - `successRate` is an exponentially weighted average of passive outcomes (1 = success,
 *   0 = failure) with α = 1 / `window` (default 10): seven failures in a row take a perfect
 *   instance below the default threshold of 0.5, one failure in a healthy stream costs 0.1. An
 *   instance that gets no traffic cannot earn its way back, so while idle its rate recovers toward
 *   1 with half-life `recoveryHalfLifeMs` (default 10 s) and it is tried again once over the
 *   threshold (a failure then sends it straight back).
 * - `latencyScore` = min(1, `latencyFactor` × mean latency of the others / own latency),
 *   refreshed once a second: an instance more than `latencyFactor` (default 10) times slower than
 *   the rest loses health in proportion, so one 20× slower sits at the default threshold. Like
 *   the success rate, it recovers toward 1 while the instance is idle.
 * - `check` is 1 unless the last active health check reported failure (`reportCheck(id, false)`),
 *   then 0: an instance its own health endpoint calls down gets no traffic.
 *
 * Outlier ejection, slow start and server-reported load act beside the score (see tracker.ts).
 */
import type { Member } from '../instance';
import type { HealthConfig } from './options';

export class HealthModel {
  private readonly alpha: number = 0;

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
    this.score(member);
  }

  /** Lets an idle member's success rate drift back toward 1 over `elapsedMs` without outcomes. */
  recover(member: Member, elapsedMs: number): void {
    if ((member.successRate >= 1 && member.latencyScore >= 1) || elapsedMs <= 0) return;
    const keep = Math.pow(2, -elapsedMs / this.config.recoveryHalfLifeMs);
    member.successRate = 1 - (1 - member.successRate) * keep;
    member.latencyScore = 1 - (1 - member.latencyScore) * keep;
    this.score(member);
  }

  /**
   * Sets every member's latency score against the mean latency of the *other* members: with the
   * member itself in the mean, a slow instance in a small pool could never fall far enough (in a
   * pool of n it would bound its own score at factor / n).
   */
  compareLatency(members: readonly Member[], activeSince: number): void {
    let sum = 0;
    let count = 0;
    for (const m of members) {
      if (m.latencyMs > 0) {
        sum += m.latencyMs;
        count += 1;
      }
    }
    for (const m of members) {
      const sampled = m.latencyMs > 0;
      const others = count - (sampled ? 1 : 0);
      if (!sampled || others === 0) {
        m.latencyScore = 1;
      } else if (m.lastOutcomeAt <= activeSince) {
        // Idle: its latency is old news, and `recover` is lifting its score.
        continue;
      } else {
        const limit = (this.config.latencyFactor * (sum - m.latencyMs)) / others;
        m.latencyScore = m.latencyMs > limit ? limit / m.latencyMs : 1;
      }
      this.score(m);
    }
  }

  score(member: Member): void {
    const health = member.checkOk ? member.successRate * member.latencyScore : 0;
    // NaN fails both comparisons and becomes 0: garbage never makes an instance look healthy.
    member.health = health >= 1 ? 1 : health > 0 ? health : 0;
  }

  isHealthy(member: Member): boolean {
    // The check on its own too: with a threshold of 0, a score of 0 would still pass.
    return member.checkOk && member.health >= this.config.threshold;
  }
}
