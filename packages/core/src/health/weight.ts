/**
 * The two factors the health tracker multiplies into an instance's effective weight (weight ×
 * slow start × load): the slow-start ramp of a newcomer, and the capacity estimate from the
 * utilization it reports. Both are recomputed on the tracker's maintenance tick, never per pick.
 */
import type { Member } from '../instance';
import type { LoadConfig, SlowStartConfig } from './options';

/** Smallest utilization taken at face value in the capacity estimate. */
const MIN_UTILIZATION = 0.01;

/**
 * Time constant of the request and error rates behind the capacity estimate, ms. gRPC reads the
 * rate from the server's report; measured here, per one-second period, an instance hit every
 * other second would alternate between a rate and none, and lose its load weighting.
 */
const RATE_WINDOW_MS = 10_000;

/**
 * Sets `member.slowStartFactor` at `now`, as Envoy: max(minWeightPercent / 100, (t / window) ^
 * (1 / aggression)), t since the ramp started; 1, and the ramp over, once t reaches the window.
 */
export function rampSlowStart(member: Member, now: number, slowStart: SlowStartConfig | false): void {
  const t = now - member.slowStartAt;
  if (slowStart === false || t >= slowStart.windowMs) {
    member.slowStartAt = -1;
    member.slowStartFactor = 1;
    return;
  }
  const ramp = Math.pow(Math.max(0, t) / slowStart.windowMs, 1 / slowStart.aggression);
  member.slowStartFactor = Math.max(slowStart.minWeightPercent / 100, ramp);
}

/**
 * Records a server-reported utilization; ignored unless a number in (0, 1]. A report of 0 says
 * nothing usable (a server that has not measured yet): as in gRPC, it does not set a weight,
 * where qps / utilization would hand that instance nearly all the traffic.
 */
export function reportLoad(member: Member, utilization: number, now: number, load: LoadConfig): void {
  if (!(utilization > 0 && utilization <= 1)) return;
  // A report after a silence longer than the expiry starts a new blackout.
  if (member.loadSince < 0 || now - member.loadAt > load.expiryMs) member.loadSince = now;
  member.loadAt = now;
  member.utilization = utilization;
}

/**
 * Sets every member's `loadFactor` as gRPC's weighted round robin: weight ∝ qps / (utilization +
 * eps / qps × penalty), normalised to a mean of 1 over the members with a fresh report
 * (reporting for `blackoutMs`, last report within `expiryMs`). The rates are exponentially
 * weighted over `RATE_WINDOW_MS`, updated with the `elapsedMs` since the last call. Returns
 * whether any factor changed.
 */
export function updateLoadFactors(
  members: readonly Member[],
  elapsedMs: number,
  now: number,
  load: LoadConfig,
): boolean {
  const { blackoutMs, expiryMs, errorUtilizationPenalty } = load;
  let sum = 0;
  let count = 0;
  const capacity = new Float64Array(members.length);
  const period = Math.max(1, elapsedMs);
  const alpha = 1 - Math.exp(-period / RATE_WINDOW_MS);
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    m.loadQps += alpha * (((m.requests - m.periodRequests) * 1000) / period - m.loadQps);
    m.loadEps += alpha * (((m.failures - m.periodFailures) * 1000) / period - m.loadEps);
    m.periodRequests = m.requests;
    m.periodFailures = m.failures;
    const qps = m.loadQps;
    const eps = m.loadEps;
    const fresh = m.loadAt >= 0 && now - m.loadAt <= expiryMs && now - m.loadSince >= blackoutMs;
    // A utilization near zero would make the capacity estimate explode; 1 % is the floor.
    const denominator =
      Math.max(m.utilization, MIN_UTILIZATION) + (qps > 0 ? (eps / qps) * errorUtilizationPenalty : 0);
    capacity[i] = fresh && qps > 0 && denominator > 0 ? qps / denominator : 0;
    if (capacity[i]! > 0) {
      sum += capacity[i]!;
      count += 1;
    }
  }
  let changed = false;
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    // Without a usable report an instance keeps factor 1: the mean of those with one.
    const factor = capacity[i]! > 0 ? Math.min(20, Math.max(0.05, capacity[i]! / (sum / count))) : 1;
    if (factor !== m.loadFactor) {
      m.loadFactor = factor;
      changed = true;
    }
  }
  return changed;
}
