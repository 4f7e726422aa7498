/**
 * Weighted round robin without bias: over any Σweights consecutive picks, every instance gets
 * exactly its weight (for integer weights; non-integer weights in proportion), and heavy
 * instances are interleaved with light ones rather than served in bursts.
 *
 * Small pools use NGINX's smooth weighted round robin (Maxim Dounin, 2012): each pick adds every
 * candidate's weight to its running "current weight", takes the largest, and subtracts the total
 * from the winner. Weights 5, 1, 1 give `a a b a c a a`, repeating. It is O(n) per pick.
 *
 * Large pools use earliest-deadline-first scheduling as in Envoy: instance i's k-th turn is due at
 * k / weight_i, and a min-heap yields the earliest due turn in O(log n). IEEE division is
 * correctly rounded, so equal deadlines (2/4 and 1/2) compare equal exactly; ties break by pool
 * order the same way every period, and the sequence repeats with period Σweights. (The old Datapunk module's bias came from rounding
 * weights into a list; neither algorithm rounds.) With equal weights that order is the pool order,
 * so a cursor yields it in O(1), as Envoy switches to plain round robin when weights are equal; a
 * heap would sift every pick through its whole depth.
 *
 * Choose it for instances of known, different capacity whose requests cost about the same.
 */
import { IndexedHeap } from '../internal/indexed-heap';
import type { Member } from '../instance';
import { readOptions } from '../options';
import type { BuiltinContext, BuiltinStrategy } from './strategy';

export interface WeightedRoundRobinOptions {
  /** Largest pool served by smooth WRR; larger pools use EDF. Default 32. */
  readonly smoothMaxInstances?: number;
}

export class WeightedRoundRobin implements BuiltinStrategy {
  readonly name = 'weighted-round-robin';
  private readonly smoothMax: number;
  /** EDF state for the balancer's pool: turns taken, indexed by slot, and due turns in a heap. */
  private turns = new Float64Array(0);
  private readonly heap = new IndexedHeap<Member>();
  /** The candidate list the EDF state was built from; whether its weights are all equal. */
  private heapOf: readonly Member[] | undefined;
  private equal = false;
  private cursor = 0;

  constructor(options: WeightedRoundRobinOptions = {}, field = 'strategy') {
    this.smoothMax = readOptions(options, field, ['smoothMaxInstances'], true).integer(
      'smoothMaxInstances',
      32,
      1,
      1e6,
    );
  }

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (candidates.length <= this.smoothMax || !ctx.isPool) return smooth(candidates);
    if (this.heapOf !== candidates) this.startEdf(candidates);
    if (this.equal) {
      if (this.cursor >= candidates.length) this.cursor = 0;
      return candidates[this.cursor++];
    }
    const next = this.heap.peek()!;
    const turns = (this.turns[next.slot]! += 1);
    // Keeping its pool position as the tie-breaker makes every period break ties alike.
    this.heap.update(next, (turns + 1) / next.effectiveWeight);
    return next;
  }

  private startEdf(candidates: readonly Member[]): void {
    this.heapOf = candidates;
    const weight = candidates[0]!.effectiveWeight;
    this.equal = candidates.every((m) => m.effectiveWeight === weight);
    if (this.equal) {
      this.cursor = 0;
      this.heap.build([], firstDue, poolOrder);
      return;
    }
    let maxSlot = 0;
    for (const m of candidates) if (m.slot > maxSlot) maxSlot = m.slot;
    if (this.turns.length <= maxSlot) this.turns = new Float64Array((maxSlot + 1) * 2);
    for (const m of candidates) this.turns[m.slot] = 0;
    this.heap.build(candidates, firstDue, poolOrder);
  }
}

function firstDue(member: Member): number {
  return 1 / member.effectiveWeight;
}

function poolOrder(_member: Member, index: number): number {
  return index;
}

/** NGINX smooth weighted round robin over `candidates`, O(n). */
function smooth(candidates: readonly Member[]): Member | undefined {
  let total = 0;
  let best: Member | undefined;
  for (let i = 0; i < candidates.length; i++) {
    const m = candidates[i]!;
    m.currentWeight += m.effectiveWeight;
    total += m.effectiveWeight;
    if (best === undefined || m.currentWeight > best.currentWeight) best = m;
  }
  if (best !== undefined) best.currentWeight -= total;
  return best;
}
