type Labels = Record<string, string>;

/** Slot layout: successes, failures, latency sum (ms), then one count per bucket and one past the last. */
const OK = 0;
const FAILED = 1;
const SUM_MS = 2;
const FIRST_BUCKET = 3;

/**
 * The numbers of every live series of one balancer in one flat `Float64Array`, one fixed-size
 * row per instance slot (core's `slot`, a small integer reused after an instance is gone): a
 * release finds its row by multiplication, touches one or two cache lines, and needs no map.
 */
export class SeriesStore {
  data: Float64Array;
  readonly stride: number;

  constructor(bucketCount: number) {
    this.stride = FIRST_BUCKET + bucketCount + 1;
    this.data = new Float64Array(this.stride * 16);
  }

  /** Makes room for `slot`; the rows of other slots keep their numbers. */
  ensure(slot: number): void {
    const end = (slot + 1) * this.stride;
    if (end <= this.data.length) return;
    let length = this.data.length;
    while (length < end) length *= 2;
    const grown = new Float64Array(length);
    grown.set(this.data);
    this.data = grown;
  }
}

/** Where a series' numbers are: a row of the store while live, a copy of its own once retired. */
interface Row {
  readonly data: Float64Array;
}

/** One instance's series: its labels and its numbers. */
export class Series {
  /** Outcomes already handed to prom-client's counter. */
  private flushedOk = 0;
  private flushedFailed = 0;
  /** Retired series: whether a scrape has seen it since it retired. */
  reported = false;
  readonly success: Labels;
  readonly failure: Labels;
  /** Identifies the label set: series of one id removed and added again share it. */
  readonly key: string;
  private row: Row;
  private offset: number;
  /** The numbers of earlier series with these labels, folded in (see `absorb`). */
  private carried: Float64Array | undefined;

  constructor(
    store: SeriesStore,
    private readonly stride: number,
    slot: number,
    readonly labels: Labels,
  ) {
    this.row = store;
    this.offset = slot * stride;
    this.success = { ...labels, outcome: 'success' };
    this.failure = { ...labels, outcome: 'failure' };
    this.key = JSON.stringify(labels);
  }

  /**
   * Takes over the numbers of a retired series with the same labels, fully handed to
   * prom-client, so the label set's counts go on from where they were instead of starting over.
   */
  absorb(other: Series): void {
    const carried = (this.carried ??= new Float64Array(this.stride));
    for (let i = 0; i < this.stride; i++) carried[i]! += other.at(i);
    this.flushedOk += other.flushedOk;
    this.flushedFailed += other.flushedFailed;
  }

  private at(i: number): number {
    return this.row.data[this.offset + i]! + (this.carried?.[i] ?? 0);
  }

  /** Moves the numbers out of the store (whose row goes to another instance) and zeroes the row. */
  detach(): void {
    const data = this.row.data;
    this.row = { data: data.slice(this.offset, this.offset + this.stride) };
    data.fill(0, this.offset, this.offset + this.stride);
    this.offset = 0;
  }

  /** Successes and failures since the last call, which marks them handed over. */
  take(): { ok: number; failed: number } {
    const ok = this.at(OK) - this.flushedOk;
    const failed = this.at(FAILED) - this.flushedFailed;
    this.flushedOk += ok;
    this.flushedFailed += failed;
    return { ok, failed };
  }

  get count(): number {
    return this.at(OK) + this.at(FAILED);
  }

  get sumMs(): number {
    return this.at(SUM_MS);
  }

  /** Observations in bucket `i` (not cumulative). */
  bucket(i: number): number {
    return this.at(FIRST_BUCKET + i);
  }

  /** `registry.resetMetrics()`: starts over. */
  clear(): void {
    this.row.data.fill(0, this.offset, this.offset + this.stride);
    this.carried = undefined;
    this.flushedOk = this.flushedFailed = 0;
  }
}

/** Records one released request into the row at `offset`: the hot path of metrics. */
export function record(data: Float64Array, offset: number, ok: boolean, ms: number, bucket: number): void {
  data[offset + (ok ? OK : FAILED)]! += 1;
  data[offset + SUM_MS]! += ms;
  data[offset + FIRST_BUCKET + bucket]! += 1;
}
