import type { Member } from '../instance';
import { defaultRandom, type Random } from '../random';
import type { Strategy, StrategyContext } from '../types';

/** What a built-in strategy may read from its balancer besides the candidates of one pick. */
export interface StrategyHost {
  readonly random: Random;
  /** Every live member, eligible or not (consistent hashing keeps keys stable across health changes). */
  members(): readonly Member[];
  /** The eligible pool, as a pick without `exclude` or `match` gets it. */
  pool(): readonly Member[];
  /** Changes whenever membership or a weight changes. */
  readonly membersVersion: number;
  /** Reports a switch of delegate (adaptive): emitted as `strategy-change` and logged. */
  strategyChanged(from: string, to: string, reason: string, signals: Readonly<Record<string, number>>): void;
}

/**
 * The contract of the built-in strategies: the public `Strategy` plus hooks the balancer calls
 * so a strategy can keep an index (a heap, a table) instead of scanning the pool per pick.
 *
 * `candidates` is usually the balancer's cached eligible pool, the same array until the pool
 * changes, so a strategy may key derived structures on its identity; after a retry's `exclude`
 * or a `match` it is a different, smaller array and the strategy falls back to a plain scan.
 */
export interface BuiltinStrategy extends Strategy {
  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined;
  /** A member's in-flight count changed (after a pick or a release). */
  onLoad?(member: Member): void;
  /** A request on `member` completed. */
  onOutcome?(member: Member, latencyMs: number, ok: boolean, now: number): void;
  /**
   * Whether two picks in a row are independent draws: then a pick that hit an excluded
   * instance is simply drawn again instead of filtering the pool.
   */
  readonly randomized?: boolean;
  /**
   * A pick that leaves out `exclude` (ids) without filtering the pool, or null when it cannot
   * (too few left to draw from cheaply): the balancer then filters.
   */
  pickExcluding?(
    candidates: readonly Member[],
    ctx: BuiltinContext,
    exclude: ReadonlySet<string>,
  ): Member | null;
}

/** The context built-in strategies get: whether `candidates` is the balancer's own pool. */
export interface BuiltinContext extends StrategyContext {
  /** True when `candidates` is the balancer's eligible pool, which `onLoad` keeps them informed of. */
  readonly isPool: boolean;
}

/** Load of a member for the least-loaded family: (in-flight + 1) / effective weight. */
export function loadOf(member: Member): number {
  return (member.inflight + 1) / member.effectiveWeight;
}

/** A uniformly random index in [0, n). */
export function randomIndex(random: Random, n: number): number {
  const i = Math.floor(random() * n);
  // A sloppy custom source (1, a negative number, NaN) must still yield an index in range.
  return i >= 0 && i < n ? i : i >= n ? n - 1 : 0;
}

/**
 * The most distinct effective weights that least-connections and weighted-round-robin serve by
 * weight class (O(1) per pick); with more they use a heap.
 */
export const MAX_WEIGHT_CLASSES = 8;

/**
 * `candidates` grouped by effective weight, in order of first appearance and each group in pool
 * order; undefined when they have more than `MAX_WEIGHT_CLASSES` distinct weights.
 */
export function byWeight(candidates: readonly Member[]): [number, Member[]][] | undefined {
  const groups = new Map<number, Member[]>();
  for (const m of candidates) {
    const group = groups.get(m.effectiveWeight);
    if (group !== undefined) group.push(m);
    else if (groups.size === MAX_WEIGHT_CLASSES) return undefined;
    else groups.set(m.effectiveWeight, [m]);
  }
  return [...groups];
}

/** In-flight requests plus the one about to be sent: the numerator of `loadOf`. */
export function demandOf(member: Member): number {
  return member.inflight + 1;
}

/**
 * The power of two choices: draws two distinct candidates uniformly at random (the second from
 * the n - 1 others, as in Mitzenmacher's analysis) and returns the one with the lower cost per
 * unit of effective weight; a tie goes to the first draw, which is itself random. The costs are
 * compared cross-multiplied by the weights (weights are positive), which spares two divisions.
 *
 * With the default source, `Math.random`, both draws come from one call: V8's carries 52 random
 * bits, the first index takes log2(n) of them and the fraction left over still holds the rest,
 * plenty for the second. Each call is a builtin that allocates its result, 10 to 15 ns of a pick
 * here. A custom source may carry fewer bits (`seededRandom` has 32), so it is drawn twice.
 */
export function choiceOfTwo(
  candidates: readonly Member[],
  random: Random,
  now: number,
  cost: (member: Member, now: number) => number,
): Member | undefined {
  const n = candidates.length;
  if (n < 2) return candidates[0];
  let i: number;
  let j: number;
  if (random === defaultRandom) {
    // x < n and j < n - 1 hold exactly: r <= 1 - 2^-52 keeps r × n at least an ulp below n.
    const x = random() * n;
    i = Math.floor(x);
    j = Math.floor((x - i) * (n - 1));
  } else {
    i = randomIndex(random, n);
    j = randomIndex(random, n - 1);
  }
  if (j >= i) j += 1;
  return cheaper(candidates[i]!, candidates[j]!, now, cost);
}

/** The one of two draws with the lower cost per unit of effective weight; a tie to `a`. */
function cheaper(a: Member, b: Member, now: number, cost: (member: Member, now: number) => number): Member {
  return cost(b, now) * a.effectiveWeight < cost(a, now) * b.effectiveWeight ? b : a;
}

/** Draws per candidate before `choiceOfTwoExcluding` gives up and lets the balancer filter. */
const EXCLUDED_DRAWS = 8;

/**
 * `choiceOfTwo` over the candidates not in `exclude`, without filtering: each of the two is
 * drawn again while it hits an excluded one (or, for the second, the first), which keeps both
 * uniform over the rest. Drawing the pair from the whole pool and redrawing only an excluded
 * winner is not the same: a pair of one excluded instance and one busy instance returned the
 * busy one, though an idle one was left. Null when few are left (the caller filters, cheaply).
 */
export function choiceOfTwoExcluding(
  candidates: readonly Member[],
  random: Random,
  now: number,
  cost: (member: Member, now: number) => number,
  exclude: ReadonlySet<string>,
): Member | null {
  const n = candidates.length;
  // Half or more excluded: draws would miss too often. Ids not in the pool only make this stricter.
  if (2 * exclude.size >= n) return null;
  const a = drawExcept(candidates, random, exclude, undefined);
  const b = a === undefined ? undefined : drawExcept(candidates, random, exclude, a);
  return a === undefined || b === undefined ? null : cheaper(a, b, now, cost);
}

function drawExcept(
  candidates: readonly Member[],
  random: Random,
  exclude: ReadonlySet<string>,
  other: Member | undefined,
): Member | undefined {
  for (let draw = 0; draw < EXCLUDED_DRAWS; draw++) {
    const m = candidates[randomIndex(random, candidates.length)]!;
    if (m !== other && !exclude.has(m.id)) return m;
  }
  return undefined;
}
