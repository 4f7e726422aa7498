/**
 * Least connections: the candidate with the fewest in-flight requests per unit of effective
 * weight, (in-flight + 1) / weight. Among equals the one whose load changed longest ago wins, so
 * a burst of requests onto an idle pool rotates through it instead of herding onto the first
 * instance, and an instance that just finished a request queues behind those idle longer.
 *
 * On the balancer's pool the candidates sit in an index that the balancer updates on every pick
 * and release: when every candidate has the same effective weight (the usual case), buckets by
 * in-flight count, O(1) per pick and release; otherwise an indexed min-heap, O(1) per pick and
 * O(log n) per load change. On a filtered candidate list (a retry, a `match`) it is one linear
 * scan. Reference: NGINX `least_conn`, HAProxy `leastconn`. Choose it for long-lived or very
 * uneven requests (streams, uploads) from a single gateway; with several gateways prefer
 * `power-of-two`, which tolerates stale counts.
 */
import { IndexedHeap } from '../internal/indexed-heap';
import { LoadBuckets } from '../internal/load-buckets';
import type { Member } from '../instance';
import { loadOf, type BuiltinContext, type BuiltinStrategy } from './strategy';

function lighter(a: Member, b: Member): boolean {
  const la = loadOf(a);
  const lb = loadOf(b);
  return la < lb || (la === lb && a.loadSeq < b.loadSeq);
}

export class LeastConnections implements BuiltinStrategy {
  readonly name = 'least-connections';
  private readonly heap = new IndexedHeap<Member>();
  private readonly buckets = new LoadBuckets<Member>();
  /** The candidate list the index was built from, and which index it is. */
  private indexOf: readonly Member[] | undefined;
  private bucketed = false;
  /** Counts load changes: a member's `loadSeq` orders it among equals. */
  private seq = 0;

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (!ctx.isPool) return scan(candidates);
    if (this.indexOf !== candidates) this.index(candidates);
    return this.bucketed ? this.buckets.peek() : this.heap.peek();
  }

  onLoad(member: Member): void {
    member.loadSeq = ++this.seq;
    if (this.bucketed) this.buckets.move(member);
    else this.heap.update(member, loadOf(member), member.loadSeq);
  }

  private index(candidates: readonly Member[]): void {
    this.indexOf = candidates;
    const weight = candidates[0]?.effectiveWeight;
    this.bucketed = candidates.every((m) => m.effectiveWeight === weight);
    if (this.bucketed) {
      // Queued in the order their loads last changed, so a rebuild keeps the rotation where it was.
      this.buckets.build(candidates.slice().sort((a, b) => a.loadSeq - b.loadSeq));
      this.heap.build([], loadOf, seqOf);
    } else {
      this.heap.build(candidates, loadOf, seqOf);
      this.buckets.build([]);
    }
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
