/**
 * Least connections: the candidate with the fewest in-flight requests per unit of effective
 * weight, (in-flight + 1) / weight. Among equals the one whose load changed longest ago wins, so
 * a burst of requests onto an idle pool rotates through it instead of herding onto the first
 * instance, and an instance that just finished a request queues behind those idle longer.
 *
 * On the balancer's pool the candidates sit in an index that the balancer updates on every pick
 * and release. Candidates of the same effective weight share load buckets (first in, first out
 * by in-flight count), so a pick compares one front-runner per distinct weight and a load change
 * is O(1): with equal weights, the usual case, or a few distinct ones (up to 8, say instance
 * sizes), a pick is O(1) whatever the pool's size. With more distinct weights (slow start gives
 * each ramping instance its own) an indexed min-heap takes over: O(1) per pick and O(log n) per
 * load change. On a filtered candidate list (a retry, a `match`) it is one linear scan.
 *
 * Reference: NGINX `least_conn`, HAProxy `leastconn`. Choose it for long-lived or very uneven
 * requests (streams, uploads) from a single gateway; with several gateways prefer
 * `power-of-two`, which tolerates stale counts.
 */
import { IndexedHeap } from '../internal/indexed-heap';
import { LoadBuckets } from '../internal/load-buckets';
import type { Member } from '../instance';
import { byWeight, loadOf, type BuiltinContext, type BuiltinStrategy } from './strategy';

/** The candidates of one effective weight, bucketed by load. */
interface WeightClass {
  readonly weight: number;
  readonly buckets: LoadBuckets<Member>;
}

function lighter(a: Member, b: Member): boolean {
  const la = loadOf(a);
  const lb = loadOf(b);
  return la < lb || (la === lb && a.loadSeq < b.loadSeq);
}

export class LeastConnections implements BuiltinStrategy {
  readonly name = 'least-connections';
  private readonly heap = new IndexedHeap<Member>();
  /** The weight classes, or none when the heap serves the pool. */
  private classes: WeightClass[] = [];
  /** Each candidate's class, indexed by slot. */
  private classOf = new Int32Array(0);
  /** The candidate list the index was built from. */
  private indexOf: readonly Member[] | undefined;
  /** Counts load changes: a member's `loadSeq` orders it among equals. */
  private seq = 0;

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (!ctx.isPool) return scan(candidates);
    if (this.indexOf !== candidates) this.index(candidates);
    const classes = this.classes;
    if (classes.length === 0) return this.heap.peek();
    // The front-runner of each class; the class's lowest load gives its key without reading it.
    let best: Member | undefined;
    let bestLoad = Infinity;
    for (let c = 0; c < classes.length; c++) {
      const { weight, buckets } = classes[c]!;
      const head = buckets.peek();
      if (head === undefined) continue;
      const load = (buckets.minLoad + 1) / weight;
      // A tiny weight can make every key Infinity: the first class then stands, never none.
      if (best === undefined || load < bestLoad || (load === bestLoad && head.loadSeq < best.loadSeq)) {
        best = head;
        bestLoad = load;
      }
    }
    return best;
  }

  onLoad(member: Member): void {
    member.loadSeq = ++this.seq;
    if (this.classes.length === 0) this.heap.update(member, loadOf(member), member.loadSeq);
    else if (member.slot < this.classOf.length)
      this.classes[this.classOf[member.slot]!]?.buckets.move(member);
  }

  private index(candidates: readonly Member[]): void {
    this.indexOf = candidates;
    const groups = byWeight(candidates);
    if (groups === undefined) {
      this.classes = [];
      this.heap.build(candidates, loadOf, seqOf);
      return;
    }
    this.heap.build([], loadOf, seqOf);
    let maxSlot = 0;
    for (const m of candidates) if (m.slot > maxSlot) maxSlot = m.slot;
    if (this.classOf.length <= maxSlot) this.classOf = new Int32Array((maxSlot + 1) * 2);
    this.classes = groups.map(([weight, members], c) => {
      for (const m of members) this.classOf[m.slot] = c;
      const buckets = new LoadBuckets<Member>();
      // Queued in the order their loads last changed, so a rebuild keeps the rotation where it was.
      buckets.build(members.sort((a, b) => a.loadSeq - b.loadSeq));
      return { weight, buckets };
    });
  }
}

function seqOf(member: Member): number {
  return member.loadSeq;
}

function scan(candidates: readonly Member[]): Member | undefined {
  let best = candidates[0];
  for (let i = 1; i < candidates.length; i++) {
    const m = candidates[i]!;
    if (lighter(m, best!)) best = m;
  }
  return best;
}
