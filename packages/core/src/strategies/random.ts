/**
 * Weighted random: each pick draws an instance with probability proportional to its effective
 * weight. Stateless across picks, so many independent balancers using it never synchronise.
 *
 * On the balancer's pool the draw is O(1) with Vose's alias method (M. D. Vose, "A linear
 * algorithm for generating random numbers with a given distribution", 1991), the table rebuilt
 * only when the pool or a weight changes (a one-off candidate list, such as a retry's, costs one
 * linear pass to build its table).
 * Choose it for many gateways in front of identical instances; prefer `power-of-two` when load
 * varies.
 */
import type { Member } from '../instance';
import type { StrategyContext } from '../types';
import { randomIndex, type BuiltinStrategy } from './strategy';

export class WeightedRandom implements BuiltinStrategy {
  readonly name = 'random';
  readonly randomized = true;
  private table: AliasTable | undefined;
  /** Tables of other stable candidate lists (`match` sub-pools). */
  private readonly tables = new WeakMap<readonly Member[], AliasTable>();

  pick(candidates: readonly Member[], ctx: StrategyContext): Member | undefined {
    const n = candidates.length;
    if (n < 2) return candidates[0];
    let table = this.table;
    if (table === undefined || table.members !== candidates) {
      table = this.tables.get(candidates);
      if (table === undefined) this.tables.set(candidates, (table = buildAliasTable(candidates)));
      this.table = table;
    }
    if (table.uniform) return candidates[randomIndex(ctx.random, n)];
    const u = ctx.random() * n;
    let i = Math.floor(u);
    if (!(i >= 0 && i < n)) i = i >= n ? n - 1 : 0;
    return candidates[u - i < table.probability[i]! ? i : table.alias[i]!];
  }
}

interface AliasTable {
  readonly members: readonly Member[];
  readonly uniform: boolean;
  readonly probability: Float64Array;
  readonly alias: Int32Array;
}

/** Vose's alias table: bucket i keeps itself with `probability[i]`, otherwise yields `alias[i]`. */
function buildAliasTable(members: readonly Member[]): AliasTable {
  const n = members.length;
  const probability = new Float64Array(n);
  const alias = new Int32Array(n);
  let total = 0;
  let uniform = true;
  const first = members[0]!.effectiveWeight;
  for (const m of members) {
    total += m.effectiveWeight;
    if (m.effectiveWeight !== first) uniform = false;
  }
  if (uniform) return { members, uniform, probability, alias };
  const small: number[] = [];
  const large: number[] = [];
  for (let i = 0; i < n; i++) {
    probability[i] = (members[i]!.effectiveWeight * n) / total;
    (probability[i]! < 1 ? small : large).push(i);
  }
  while (small.length > 0 && large.length > 0) {
    const s = small.pop()!;
    const l = large.pop()!;
    alias[s] = l;
    probability[l] = probability[l]! + probability[s]! - 1;
    (probability[l]! < 1 ? small : large).push(l);
  }
  // Leftovers are 1 up to rounding error.
  for (const i of large) probability[i] = 1;
  for (const i of small) probability[i] = 1;
  return { members, uniform, probability, alias };
}
