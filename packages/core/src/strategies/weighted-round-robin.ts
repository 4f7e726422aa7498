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
 * order the same way every period, and the sequence repeats with period Σweights. (The old
 * Datapunk module's bias came from rounding weights into a list; neither algorithm rounds.)
 *
 * Instances of the same weight have the same deadlines, so when the pool has few distinct weights
 * (up to 8: equal weights, or a few instance sizes) EDF runs over the weights instead: each weight
 * class serves its k-th turn to its instances in pool order, with a cursor, and the class whose
 * turn is due first goes next (ties to the class that appears first in the pool). A pick is O(1)
 * whatever the pool's size; with equal weights that is plain round robin, as in Envoy. Every
 * instance still gets its k-th turn at k / weight, so the sequence keeps its period and shares.
 *
 * Choose it for instances of known, different capacity whose requests cost about the same.
 */
import { IndexedHeap } from '../internal/indexed-heap';
import type { Member } from '../instance';
import { readOptions } from '../options';
import { byWeight, type BuiltinContext, type BuiltinStrategy } from './strategy';

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
  /** The candidate list the EDF state was built from. */
  private heapOf: readonly Member[] | undefined;
  /** EDF over weight classes, or none when the heap serves the pool. */
  private classes: WeightClass[] = [];

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
    if (this.classes.length > 0) return nextOf(this.classes);
    const next = this.heap.peek()!;
    const turns = (this.turns[next.slot]! += 1);
    // Keeping its pool position as the tie-breaker makes every period break ties alike.
    this.heap.update(next, (turns + 1) / next.effectiveWeight);
    return next;
  }

  private startEdf(candidates: readonly Member[]): void {
    this.heapOf = candidates;
    this.classes = weightClasses(candidates);
    if (this.classes.length > 0) {
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

/** The candidates of one effective weight, in pool order, and the turn they are serving. */
interface WeightClass {
  readonly weight: number;
  readonly members: readonly Member[];
  /** The turn being served (the first is 1, due at 1 / weight), and the next member to serve it. */
  turn: number;
  cursor: number;
}

/** The candidates' weight classes, or none when they have too many distinct weights. */
function weightClasses(candidates: readonly Member[]): WeightClass[] {
  const groups = byWeight(candidates) ?? [];
  return groups.map(([weight, members]) => ({ weight, members, turn: 1, cursor: 0 }));
}

/** EDF over weight classes: the next member of the class whose turn is due first. */
function nextOf(classes: readonly WeightClass[]): Member {
  let due = classes[0]!;
  let dueAt = due.turn / due.weight;
  for (let c = 1; c < classes.length; c++) {
    const at = classes[c]!.turn / classes[c]!.weight;
    if (at < dueAt) {
      due = classes[c]!;
      dueAt = at;
    }
  }
  const member = due.members[due.cursor]!;
  if (++due.cursor === due.members.length) {
    due.cursor = 0;
    due.turn += 1;
  }
  return member;
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
