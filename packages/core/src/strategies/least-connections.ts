/**
 * Least connections: the candidate with the fewest in-flight requests per unit of effective
 * weight, (in-flight + 1) / weight. Among equals the one picked least recently wins, so a burst
 * of requests onto an idle pool rotates through it instead of herding onto the first instance.
 *
 * On the balancer's pool the candidates sit in an indexed min-heap that the balancer updates on
 * every pick and release, so a pick is O(1) and a load change O(log n); on a filtered candidate
 * list (a retry, a `match`) it is one linear scan. Reference: NGINX `least_conn`, HAProxy
 * `leastconn`. Choose it for long-lived or very uneven requests (streams, uploads) from a single
 * gateway; with several gateways prefer `power-of-two`, which tolerates stale counts.
 */
import { IndexedHeap } from '../internal/indexed-heap';
import type { Member } from '../instance';
import { loadOf, type BuiltinContext, type BuiltinStrategy } from './strategy';

function lighter(a: Member, b: Member): boolean {
  const la = loadOf(a);
  const lb = loadOf(b);
  return la < lb || (la === lb && a.lastPickSeq < b.lastPickSeq);
}

export class LeastConnections implements BuiltinStrategy {
  readonly name = 'least-connections';
  private readonly heap = new IndexedHeap<Member>();
  private heapOf: readonly Member[] | undefined;

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    if (!ctx.isPool) return scan(candidates);
    if (this.heapOf !== candidates) {
      this.heap.build(candidates, loadOf, seqOf);
      this.heapOf = candidates;
    }
    return this.heap.peek();
  }

  onLoad(member: Member): void {
    this.heap.update(member, loadOf(member), member.lastPickSeq);
  }
}

function seqOf(member: Member): number {
  return member.lastPickSeq;
}

function scan(candidates: readonly Member[]): Member | undefined {
  let best = candidates[0];
  for (let i = 1; i < candidates.length; i++) {
    const m = candidates[i]!;
    if (lighter(m, best!)) best = m;
  }
  return best;
}
