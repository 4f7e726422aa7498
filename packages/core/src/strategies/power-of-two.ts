/**
 * Power of two choices: draw two distinct candidates at random and send the request to the one
 * with fewer in-flight requests per unit of effective weight, (in-flight + 1) / weight.
 *
 * Reference: M. Mitzenmacher, "The Power of Two Choices in Randomized Load Balancing" (2001):
 * two random choices shrink the maximum load from O(log n / log log n) to O(log log n), and
 * unlike least-connections it needs no global view, so it degrades gracefully when the load
 * information is stale (each gateway replica sees only its own requests). O(1) per pick.
 *
 * Choose it by default: it reacts to load without herding onto one "best" instance.
 */
import type { Member } from '../instance';
import type { StrategyContext } from '../types';
import { choiceOfTwo, choiceOfTwoExcluding, demandOf, type BuiltinStrategy } from './strategy';

export class PowerOfTwo implements BuiltinStrategy {
  readonly name = 'power-of-two';

  pick(candidates: readonly Member[], ctx: StrategyContext): Member | undefined {
    return choiceOfTwo(candidates, ctx.random, ctx.now, demandOf);
  }

  pickExcluding(
    candidates: readonly Member[],
    ctx: StrategyContext,
    exclude: ReadonlySet<string>,
  ): Member | null {
    return choiceOfTwoExcluding(candidates, ctx.random, ctx.now, demandOf, exclude);
  }
}
