/**
 * A per-instance rolling window of released requests, for the status page.
 *
 * Time is cut into one-second buckets. For each of the last `historySeconds` seconds the window
 * keeps the count of requests and failures and, once the second is over, its p99 latency; for the last `RECENT_SECONDS` seconds it also keeps a latency histogram, from which
 * the live p50/p99 are read. The histogram is log-linear, as HdrHistogram's: each doubling of
 * `1 + ms` is an octave cut into `SUB_BUCKETS` equal buckets, found with `Math.clz32` and a
 * shift, so a reported percentile is the upper edge of its bucket, at most 12.5 % of `1 + ms`
 * above the true value (12.5 % plus 0.125 ms), up to 65 s.
 *
 * Recording is O(1): a bucket index from one `clz32` and three increments. Rolling over to a new
 * second clears at most `RECENT_SECONDS` histogram slots and `historySeconds` summary slots, once
 * per second and only when a release or a read arrives. Memory is fixed at construction (about
 * 10 KiB for the default five minutes).
 */

/** Seconds of histogram kept for the live percentiles, request rate and error rate. */
export const RECENT_SECONDS = 10;
const SUB_BUCKETS = 8;
/** `1 + ms` is scaled by 2^8 so that every value has its octave's three leading bits. */
const SCALE_BITS = 8;
const OCTAVES = 16;
const BUCKETS = OCTAVES * SUB_BUCKETS;
const MAX_SCALED = 2 ** (SCALE_BITS + OCTAVES) - 1;

/** A figure with no sample in the window. */
const NONE = -1;

function bucketOf(latencyMs: number): number {
  // NaN and negatives count as 0 ms; anything from 65 s up lands in the last bucket.
  const scaled = latencyMs > 0 ? Math.min((1 + latencyMs) * 256, MAX_SCALED) | 0 : 256;
  const octave = 31 - Math.clz32(scaled) - SCALE_BITS;
  return octave * SUB_BUCKETS + ((scaled >>> (octave + SCALE_BITS - 3)) & (SUB_BUCKETS - 1));
}

/** Upper edge of a bucket, in ms. */
function upperEdge(bucket: number): number {
  const octave = Math.floor(bucket / SUB_BUCKETS);
  return 2 ** octave * (1 + ((bucket % SUB_BUCKETS) + 1) / SUB_BUCKETS) - 1;
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
  readonly p99Ms: (number | null)[];
}

export class InstanceWindow {
  private readonly requests: Uint32Array;
  private readonly failures: Uint32Array;
  private readonly p99: Float32Array;
  private readonly histogram = new Uint32Array(RECENT_SECONDS * BUCKETS);
  /** Scratch space to merge histograms into when reading percentiles. */
  private readonly merged = new Uint32Array(BUCKETS);
  private mergedTotal = 0;
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
    this.merge(RECENT_SECONDS);
    return {
      requestsPerSecond: requests / spanSeconds,
      errorRate: requests === 0 ? 0 : failures / requests,
      requests,
      p50Ms: this.quantile(0.5),
      p99Ms: this.quantile(0.99),
    };
  }

  /** The per-second history, oldest first, ending with the current second; at most `maxPoints` points. */
  series(nowMs: number, maxPoints = this.historySeconds): Series {
    this.advance(Math.floor(nowMs / 1000));
    const n = this.historySeconds;
    // Seconds before the window started are not zeros but unknown: leave them out.
    const points = Math.min(n, maxPoints, this.second - Math.floor(this.startedMs / 1000) + 1);
    const out: Series = { requests: [], failures: [], p99Ms: [] };
    for (let age = points - 1; age >= 0; age--) {
      const slot = (((this.second - age) % n) + n) % n;
      out.requests.push(this.requests[slot]!);
      out.failures.push(this.failures[slot]!);
      if (age === 0) {
        this.merge(1);
        out.p99Ms.push(this.quantile(0.99));
      } else {
        out.p99Ms.push(this.p99[slot]! === NONE ? null : round(this.p99[slot]!));
      }
    }
    return out;
  }

  /** Closes the seconds up to `second`: stores their percentiles, clears the slots they reuse. */
  private advance(second: number): void {
    if (second <= this.second) return;
    const closing = this.second % this.historySeconds;
    this.merge(1);
    this.p99[closing] = this.quantile(0.99) ?? NONE;
    const gap = second - this.second;
    for (let i = 1; i <= Math.min(gap, this.historySeconds); i++) {
      const slot = (this.second + i) % this.historySeconds;
      this.requests[slot] = 0;
      this.failures[slot] = 0;
      this.p99[slot] = NONE;
    }
    for (let i = 1; i <= Math.min(gap, RECENT_SECONDS); i++) {
      const base = ((this.second + i) % RECENT_SECONDS) * BUCKETS;
      this.histogram.fill(0, base, base + BUCKETS);
    }
    this.second = second;
  }

  /** Sums the histograms of the last `seconds` seconds, the current one included, for `quantile()`. */
  private merge(seconds: number): void {
    const merged = this.merged;
    merged.fill(0);
    let total = 0;
    for (let age = 0; age < seconds; age++) {
      const base = ((((this.second - age) % RECENT_SECONDS) + RECENT_SECONDS) % RECENT_SECONDS) * BUCKETS;
      for (let b = 0; b < BUCKETS; b++) {
        const n = this.histogram[base + b]!;
        merged[b]! += n;
        total += n;
      }
    }
    this.mergedTotal = total;
  }

  /** The `q` quantile, ms, of the last `merge()`; `null` without samples. */
  private quantile(q: number): number | null {
    if (this.mergedTotal === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.mergedTotal));
    let seen = 0;
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.merged[b]!;
      if (seen >= rank) return round(upperEdge(b));
    }
    return round(upperEdge(BUCKETS - 1));
  }
}

/** Two decimals: enough for ms, and short JSON. */
function round(value: number): number {
  return Math.round(value * 100) / 100;
}
