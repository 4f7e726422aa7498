/**
 * Round robin: each pick takes the next candidate in turn. O(1), no state but a cursor.
 *
 * Reference: the oldest scheduling discipline there is; as a load-balancing policy, NGINX's
 * default for an `upstream` block and Envoy's `ROUND_ROBIN` with equal weights.
 *
 * Choose it for identical instances serving requests of similar cost; it ignores weights and
 * load. For weights use `weighted-round-robin`; for uneven request cost, `power-of-two` or
 * `peak-ewma`.
 */
import type { Member } from '../instance';
import type { BuiltinContext, BuiltinStrategy } from './strategy';

export class RoundRobin implements BuiltinStrategy {
  readonly name = 'round-robin';
  private cursor = 0;
  /**
   * Picks from a subset (a retry's `exclude`, a `match`) turn a cursor of their own: on the
   * pool's, a retry off one instance always landed on the same other one, and matched picks
   * between pool picks pinned the pool's rotation to one place.
   */
  private subsetCursor = 0;

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    const n = candidates.length;
    if (n === 0) return undefined;
    // A cursor past the end (the pool shrank) wraps instead of growing without bound.
    if (ctx.isPool) {
      if (this.cursor >= n) this.cursor = 0;
      return candidates[this.cursor++];
    }
    if (this.subsetCursor >= n) this.subsetCursor = 0;
    return candidates[this.subsetCursor++];
  }
}
