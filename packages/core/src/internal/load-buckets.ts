/**
 * Members bucketed by their in-flight count, each bucket a first-in first-out list: the least
 * loaded member that has waited longest at its load is at the front of the lowest non-empty
 * bucket. Among members of one weight that is least-connections' choice (it keeps one set per
 * weight class), and a pick or a release is O(1): a member moves one bucket up or down, to the
 * back of its new list.
 * (A heap needs a sift through its whole depth for each pick when loads are equal, the common
 * case: seven levels on a pool of 10 000.)
 *
 * The lists are linked through typed arrays indexed by slot, the buckets' ends through typed
 * arrays indexed by load, so an operation touches a few numbers and one member.
 */
export class LoadBuckets<T extends { readonly slot: number; readonly inflight: number }> {
  private bySlot: (T | undefined)[] = [];
  private size = 0;
  /** Per slot: the bucket the member is in, and its neighbours in that bucket's list (-1: none). */
  private level = new Int32Array(0);
  private next = new Int32Array(0);
  private prev = new Int32Array(0);
  /** Per load: the first and last slot of the bucket (-1: empty). */
  private head = new Int32Array(0);
  private tail = new Int32Array(0);
  /** The lowest load whose bucket is not empty (0 when there is no member). */
  private min = 0;

  /** Replaces the content with `items`; within a load they queue in the order given. */
  build(items: readonly T[]): void {
    let maxSlot = -1;
    let maxLevel = 0;
    for (const item of items) {
      if (item.slot > maxSlot) maxSlot = item.slot;
      if (levelOf(item) > maxLevel) maxLevel = levelOf(item);
    }
    if (this.level.length <= maxSlot) {
      const length = Math.max(16, (maxSlot + 1) * 2);
      this.level = new Int32Array(length);
      this.next = new Int32Array(length);
      this.prev = new Int32Array(length);
    }
    if (this.head.length <= maxLevel) this.grow(maxLevel);
    this.head.fill(-1);
    this.tail.fill(-1);
    this.bySlot = [];
    this.size = items.length;
    this.min = items.length === 0 ? 0 : maxLevel;
    for (const item of items) {
      const level = levelOf(item);
      this.bySlot[item.slot] = item;
      this.append(item.slot, level);
      if (level < this.min) this.min = level;
    }
  }

  /** The in-flight count of the front-runner (0 when empty). */
  get minLoad(): number {
    return this.min;
  }

  /** The least loaded member that has waited longest at its load. */
  peek(): T | undefined {
    if (this.size === 0) return undefined;
    return this.bySlot[this.head[this.min]!];
  }

  /** Moves `item` to the back of the bucket of its current in-flight count; ignores items not held. */
  move(item: T): void {
    const slot = item.slot;
    if (this.bySlot[slot] !== item) return;
    const to = levelOf(item);
    const from = this.level[slot]!;
    if (to === from) return;
    this.unlink(slot, from);
    if (this.head.length <= to) this.grow(to);
    this.append(slot, to);
    if (to < this.min) this.min = to;
    // In-flight counts move by one, so at most one step; the loop only guards a bigger jump.
    else while (this.head[this.min]! < 0) this.min += 1;
  }

  private append(slot: number, level: number): void {
    const last = this.tail[level]!;
    this.level[slot] = level;
    this.prev[slot] = last;
    this.next[slot] = -1;
    if (last < 0) this.head[level] = slot;
    else this.next[last] = slot;
    this.tail[level] = slot;
  }

  private unlink(slot: number, level: number): void {
    const before = this.prev[slot]!;
    const after = this.next[slot]!;
    if (before < 0) this.head[level] = after;
    else this.next[before] = after;
    if (after < 0) this.tail[level] = before;
    else this.prev[after] = before;
  }

  /** Makes room for loads up to `level`. */
  private grow(level: number): void {
    const length = Math.max(16, (level + 1) * 2);
    const head = new Int32Array(length).fill(-1);
    const tail = new Int32Array(length).fill(-1);
    head.set(this.head);
    tail.set(this.tail);
    this.head = head;
    this.tail = tail;
  }
}

/** The bucket of a member: its in-flight count, never below 0. */
function levelOf(item: { readonly inflight: number }): number {
  return item.inflight > 0 ? item.inflight : 0;
}
