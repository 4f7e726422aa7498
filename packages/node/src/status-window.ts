/**
 * A per-instance rolling window of released requests, for the status page.
 *
 * Time is cut into one-second buckets. For each of the last `historySeconds` seconds the window
 * keeps the count of requests and failures and, once the second is over, its p50 and p99
 * latency; for the last `RECENT_SECONDS` seconds it also keeps a latency histogram, from which
 * the live p50/p99 are read. The histogram is log-linear, HdrHistogram's idea at a coarse grain:
 * `BUCKETS_PER_OCTAVE` buckets per doubling of `1 + ms`, so a reported percentile is the upper
 * edge of its bucket, within about 9 % of the true value, up to 65 s.
 *
 * Recording is O(1): a bucket index from one `log2` and three increments. Rolling over to a new
 * second clears at most `RECENT_SECONDS` histogram slots and `historySeconds` summary slots, once
 * per second and only when a release or a read arrives. Memory is fixed at construction (about
 * 10 KiB for the default five minutes).
 */

/** Seconds of histogram kept for the live percentiles, request rate and error rate. */
export const RECENT_SECONDS = 10;
const BUCKETS_PER_OCTAVE = 8;
const BUCKETS = 16 * BUCKETS_PER_OCTAVE;

/** A recent figure with no sample in the window. */
const NONE = -1;

function bucketOf(latencyMs: number): number {
  if (!(latencyMs > 0)) return 0;
  const b = Math.floor(Math.log2(1 + latencyMs) * BUCKETS_PER_OCTAVE);
  return b < BUCKETS ? b : BUCKETS - 1;
}

/** Upper edge of a bucket, in ms. */
function upperEdge(bucket: number): number {
  return 2 ** ((bucket + 1) / BUCKETS_PER_OCTAVE) - 1;
}

/** Live figures over the last `RECENT_SECONDS` seconds. */
export interface RecentFigures {
  readonly requestsPerSecond: number;
  /** Failed / released, in [0, 1]; 0 without requests. */
  readonly errorRate: number;
  /** Released requests in the window. */
  readonly requests: number;
  /** Latency percentiles in ms; `null` without requests. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/**
 * One series per figure, one point per second, oldest first, since the window started (at most
 * `historySeconds` points); the last point is the current second.
 */
export interface Series {
  readonly requests: number[];
  readonly failures: number[];
  /** `null` for a second without requests; the current second's value is live. */
  readonly p50Ms: (number | null)[];
  readonly p99Ms: (number | null)[];
}

export class InstanceWindow {
  private readonly requests: Uint32Array;
  private readonly failures: Uint32Array;
  private readonly p50: Float32Array;
  private readonly p99: Float32Array;
  private readonly histogram = new Uint32Array(RECENT_SECONDS * BUCKETS);
  /** Scratch space to merge histograms into when reading percentiles. */
  private readonly merged = new Uint32Array(BUCKETS);
  /** The second the current buckets belong to (ms clock / 1000, floored). */
  private second: number;
  /** When the window started, ms, to rate a young instance over its real age. */
  private readonly startedMs: number;

  constructor(
    private readonly historySeconds: number,
    nowMs: number,
  ) {
    this.requests = new Uint32Array(historySeconds);
    this.failures = new Uint32Array(historySeconds);
    this.p50 = new Float32Array(historySeconds).fill(NONE);
    this.p99 = new Float32Array(historySeconds).fill(NONE);
    this.second = Math.floor(nowMs / 1000);
    this.startedMs = nowMs;
  }

  /** Records one released request. */
  record(nowMs: number, latencyMs: number, ok: boolean): void {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.second) this.advance(second);
    const slot = this.second % this.historySeconds;
    this.requests[slot]!++;
    if (!ok) this.failures[slot]!++;
    this.histogram[(this.second % RECENT_SECONDS) * BUCKETS + bucketOf(latencyMs)]!++;
  }

  /** Figures over the last `RECENT_SECONDS` seconds, the current one included. */
  recent(nowMs: number): RecentFigures {
    this.advance(Math.floor(nowMs / 1000));
    let requests = 0;
    let failures = 0;
    for (let i = 0; i < RECENT_SECONDS; i++) {
      const slot = (((this.second - i) % this.historySeconds) + this.historySeconds) % this.historySeconds;
      requests += this.requests[slot]!;
      failures += this.failures[slot]!;
    }
    // The window spans the full past seconds plus the part of this one that has gone by.
    const spanMs = Math.min(RECENT_SECONDS * 1000 - 1000 + (nowMs % 1000), nowMs - this.startedMs);
    const spanSeconds = Math.max(spanMs, 1000) / 1000;
    return {
      requestsPerSecond: requests / spanSeconds,
      errorRate: requests === 0 ? 0 : failures / requests,
      requests,
      p50Ms: this.percentile(0.5, 0, RECENT_SECONDS),
      p99Ms: this.percentile(0.99, 0, RECENT_SECONDS),
    };
  }

  /** The per-second history, oldest first, ending with the current second. */
  series(nowMs: number): Series {
    this.advance(Math.floor(nowMs / 1000));
    const n = this.historySeconds;
    // Seconds before the window started are not zeros but unknown: leave them out.
    const points = Math.min(n, this.second - Math.floor(this.startedMs / 1000) + 1);
    const out: Series = { requests: [], failures: [], p50Ms: [], p99Ms: [] };
    for (let age = points - 1; age >= 0; age--) {
      const slot = (((this.second - age) % n) + n) % n;
      out.requests.push(this.requests[slot]!);
      out.failures.push(this.failures[slot]!);
      if (age === 0) {
        out.p50Ms.push(this.percentile(0.5, 0, 1));
        out.p99Ms.push(this.percentile(0.99, 0, 1));
      } else {
        out.p50Ms.push(this.p50[slot]! === NONE ? null : round(this.p50[slot]!));
        out.p99Ms.push(this.p99[slot]! === NONE ? null : round(this.p99[slot]!));
      }
    }
    return out;
  }

  /** Closes the seconds up to `second`: stores their percentiles, clears the slots they reuse. */
  private advance(second: number): void {
    if (second <= this.second) return;
    const closing = this.second % this.historySeconds;
    this.p50[closing] = this.percentile(0.5, 0, 1) ?? NONE;
    this.p99[closing] = this.percentile(0.99, 0, 1) ?? NONE;
    const gap = second - this.second;
    for (let i = 1; i <= Math.min(gap, this.historySeconds); i++) {
      const slot = (this.second + i) % this.historySeconds;
      this.requests[slot] = 0;
      this.failures[slot] = 0;
      this.p50[slot] = NONE;
      this.p99[slot] = NONE;
    }
    for (let i = 1; i <= Math.min(gap, RECENT_SECONDS); i++) {
      const base = ((this.second + i) % RECENT_SECONDS) * BUCKETS;
      this.histogram.fill(0, base, base + BUCKETS);
    }
    this.second = second;
  }

  /**
   * The `q` quantile, ms, over the histograms of the seconds `fromAge` to `toAge - 1` back from
   * the current one; `null` without samples.
   */
  private percentile(q: number, fromAge: number, toAge: number): number | null {
    const merged = this.merged;
    merged.fill(0);
    let total = 0;
    for (let age = fromAge; age < toAge; age++) {
      const base = ((((this.second - age) % RECENT_SECONDS) + RECENT_SECONDS) % RECENT_SECONDS) * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) {
        const n = this.histogram[base + b]!;
        merged[b]! += n;
        total += n;
      }
    }
    if (total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += merged[b]!;
      if (seen >= rank) return round(upperEdge(b));
    }
    return round(upperEdge(BUCKETS - 1));
  }
}

/** Two decimals: enough for ms, and short JSON. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}
