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
 * The pool is rebuilt whenever anything about it changes (another instance's health, a metadata
 * update, a slow-start step). A rebuild keeps the schedule's place: instances that stay, at the
 * same weight, keep their turns; an instance that joins or changes weight starts with its next
 * turn after the present deadline (the "virtual time"), so it gets neither a burst of turns it
 * never waited for nor a wait behind everyone else's first turns. Restarting from turn 1 instead
 * would serve the heavy instances' early turns again after every rebuild and starve light ones.
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
  /**
   * EDF state for the balancer's pool, indexed by slot: turns taken (the next is due at
   * (turns + 1) / weight), the weight they were counted at, which member they belong to, and a
   * stamp marking the members of the previous pool during a rebuild. Due turns are in a heap.
   */
  private turns = new Float64Array(0);
  private weights = new Float64Array(0);
  private owners: (Member | undefined)[] = [];
  private stamps = new Float64Array(0);
  private rebuilds = 0;
  /** The deadline of the latest turn served: where an instance that joins starts. */
  private virtualTime = 0;
  private readonly heap = new IndexedHeap<Member>();
  /** The candidate list the EDF state was built from. */
  private heapOf: readonly Member[] | undefined;
  /** EDF over weight classes, or none when the heap serves the pool. */
  private classes: WeightClass[] = [];
  /** Smooth WRR's current weights for picks from a subset, by slot (see `smoothSubset`). */
  private subsetWeights = new Float64Array(0);

  constructor(options: WeightedRoundRobinOptions = {}, field = 'strategy') {
    this.smoothMax = readOptions(options, field, ['smoothMaxInstances'], true).integer(
      'smoothMaxInstances',
      32,
      1,
      1e6,
    );
  }

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (!ctx.isPool) return this.smoothSubset(candidates);
    if (candidates.length <= this.smoothMax) return smooth(candidates);
    if (this.heapOf !== candidates) this.startEdf(candidates);
    if (this.classes.length > 0) return this.nextOfClasses();
    const next = this.heap.peek()!;
    const weight = this.weights[next.slot]!;
    const turns = (this.turns[next.slot]! += 1);
    this.virtualTime = turns / weight;
    // Keeping its pool position as the tie-breaker makes every period break ties alike.
    this.heap.update(next, (turns + 1) / weight);
    return next;
  }

  /**
   * Smooth WRR over a subset (a retry's `exclude`, a `match`), with current weights of its own,
   * by slot: on the members' own, the pool's schedule and the subset's disturbed each other
   * (interleaved matched picks went all to one of two equal instances, and it got none of the
   * others). O(subset), as the filtering that built the subset.
   */
  private smoothSubset(candidates: readonly Member[]): Member | undefined {
    let total = 0;
    let best: Member | undefined;
    let bestWeight = 0;
    for (const m of candidates) {
      if (m.slot >= this.subsetWeights.length)
        this.subsetWeights = grown(this.subsetWeights, (m.slot + 1) * 2);
      const current = (this.subsetWeights[m.slot]! += m.effectiveWeight);
      total += m.effectiveWeight;
      if (best === undefined || current > bestWeight) {
        best = m;
        bestWeight = current;
      }
    }
    if (best !== undefined) this.subsetWeights[best.slot]! -= total;
    return best;
  }

  /** EDF over weight classes: the next member of the class whose turn is due first. */
  private nextOfClasses(): Member {
    const classes = this.classes;
    let due = classes[0]!;
    let dueAt = due.turn / due.weight;
    for (let c = 1; c < classes.length; c++) {
      const at = classes[c]!.turn / classes[c]!.weight;
      if (at < dueAt) {
        due = classes[c]!;
        dueAt = at;
      }
    }
    this.virtualTime = dueAt;
    const member = due.members[due.cursor]!;
    if (++due.cursor === due.members.length) {
      due.cursor = 0;
      due.turn += 1;
    }
    return member;
  }

  private startEdf(candidates: readonly Member[]): void {
    // The schedule's place carries over whichever of the two served before: a pool whose
    // number of distinct weights crosses 8 back and forth (an instance flapping) otherwise
    // restarted every light instance's turn at each crossing, and they never came due.
    const fromClasses = this.classes.length > 0;
    const previous = fromClasses ? this.turnsFromClasses() : (this.heapOf ?? []);
    this.heapOf = candidates;
    const groups = byWeight(candidates);
    if (groups !== undefined) {
      this.classes = fromClasses ? this.keepClasses(groups) : this.classesFromTurns(groups, previous);
      this.heap.build([], poolOrder, poolOrder);
      return;
    }
    this.classes = [];
    this.keepTurns(previous, candidates);
    const { turns, weights } = this;
    this.heap.build(candidates, (m) => (turns[m.slot]! + 1) / weights[m.slot]!, poolOrder);
  }

  /**
   * The weight classes' place as turns by slot, the heap's form: a member before its class's
   * cursor has taken the class's turn, the others the one before. Returns the members.
   */
  private turnsFromClasses(): Member[] {
    const members: Member[] = [];
    for (const c of this.classes) {
      c.members.forEach((m, k) => {
        this.fit(m.slot);
        this.owners[m.slot] = m;
        this.weights[m.slot] = c.weight;
        this.turns[m.slot] = k < c.cursor ? c.turn : c.turn - 1;
        members.push(m);
      });
    }
    return members;
  }

  /**
   * Weight classes from the heap's turns by slot: each class serves the earliest turn one of its
   * members has pending, from the first member (in pool order) that has it pending.
   */
  private classesFromTurns(
    groups: readonly [number, Member[]][],
    previous: readonly Member[],
  ): WeightClass[] {
    const stamp = this.stamp(previous);
    return groups.map(([weight, members]): WeightClass => {
      const pending = members.map((m) => this.keptTurns(m, weight, stamp) + 1);
      const turn = pending.reduce((a, b) => Math.min(a, b));
      return { weight, members, turn, cursor: pending.indexOf(turn) };
    });
  }

  /** Weight classes that existed before keep their turn and next member; new ones start now. */
  private keepClasses(groups: readonly [number, Member[]][]): WeightClass[] {
    const before = new Map(this.classes.map((c) => [c.weight, c]));
    return groups.map(([weight, members]): WeightClass => {
      const old = before.get(weight);
      if (old === undefined) return { weight, members, turn: nextTurn(this.virtualTime, weight), cursor: 0 };
      // The member that was next, if it is still there; else the one now at its place.
      const cursor = members.indexOf(old.members[old.cursor]!);
      if (cursor >= 0) return { weight, members, turn: old.turn, cursor };
      return old.cursor < members.length
        ? { weight, members, turn: old.turn, cursor: old.cursor }
        : { weight, members, turn: old.turn + 1, cursor: 0 };
    });
  }

  /** Members of the previous pool at an unchanged weight keep their turns; the others start now. */
  private keepTurns(previous: readonly Member[], candidates: readonly Member[]): void {
    const stamp = this.stamp(previous);
    for (const m of candidates) {
      const weight = m.effectiveWeight;
      const turns = this.keptTurns(m, weight, stamp);
      this.owners[m.slot] = m;
      this.weights[m.slot] = weight;
      this.turns[m.slot] = turns;
    }
  }

  /** Marks the slots of `previous` as the previous pool's; returns the mark. */
  private stamp(previous: readonly Member[]): number {
    const stamp = ++this.rebuilds;
    for (const m of previous) {
      this.fit(m.slot);
      this.stamps[m.slot] = stamp;
    }
    return stamp;
  }

  /**
   * The turns `member` has taken: its own if it was in the previous pool (`stamp`) at `weight`,
   * else as if it joined now (its first turn is the next one due after the virtual time).
   */
  private keptTurns(member: Member, weight: number, stamp: number): number {
    const slot = member.slot;
    this.fit(slot);
    if (this.stamps[slot] === stamp && this.owners[slot] === member && this.weights[slot] === weight)
      return this.turns[slot]!;
    return nextTurn(this.virtualTime, weight) - 1;
  }

  /** Grows the arrays by slot to hold `slot`. */
  private fit(slot: number): void {
    if (slot < this.turns.length) return;
    const size = (slot + 1) * 2;
    this.turns = grown(this.turns, size);
    this.weights = grown(this.weights, size);
    this.stamps = grown(this.stamps, size);
  }
}

/** The first turn of an instance of `weight` due after `virtualTime`: the k with k / weight > it. */
function nextTurn(virtualTime: number, weight: number): number {
  return Math.floor(virtualTime * weight) + 1;
}

function grown(array: Float64Array, size: number): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(size);
  bigger.set(array);
  return bigger;
}

/** The candidates of one effective weight, in pool order, and the turn they are serving. */
interface WeightClass {
  readonly weight: number;
  readonly members: readonly Member[];
  /** The turn being served (the first is 1, due at 1 / weight), and the next member to serve it. */
  turn: number;
  cursor: number;
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
