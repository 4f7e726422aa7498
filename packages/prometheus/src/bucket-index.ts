/** Whole-millisecond bounds up to this are looked up in a table instead of searched. */
const TABLE_MAX_MS = 60_000;

/**
 * Finds a latency's histogram bucket: the index of the first upper bound (in ms) it does not
 * exceed, or `bounds.length` past the last. With whole-millisecond bounds (the defaults are) a
 * table indexed by the latency rounded up answers in one load; otherwise a linear scan.
 */
export class BucketIndex {
  private readonly table: Uint8Array | undefined;
  private readonly tableMax: number;

  /** Number of bounds. */
  readonly size: number;

  constructor(private readonly boundsMs: readonly number[]) {
    this.size = boundsMs.length;
    const last = boundsMs[boundsMs.length - 1] ?? 0;
    if (boundsMs.length < 255 && last <= TABLE_MAX_MS && boundsMs.every((b) => Number.isInteger(b))) {
      const table = new Uint8Array(last + 1);
      let bucket = 0;
      for (let ms = 0; ms <= last; ms++) {
        while (ms > boundsMs[bucket]!) bucket++;
        table[ms] = bucket;
      }
      this.table = table;
      this.tableMax = last;
    } else {
      this.table = undefined;
      this.tableMax = -1;
    }
  }

  of(ms: number): number {
    // A latency x with n - 1 < x <= n falls where n does: bounds are whole, so x <= bound iff n <= bound.
    if (ms <= this.tableMax) return this.table![Math.ceil(ms)]!;
    const bounds = this.boundsMs;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    return i;
  }
}
