/**
 * Retry budget, after Finagle's `RetryBudget` (and Envoy's `retry_budget`): retries may add at
 * most `ratio` of the traffic, so a failing upstream sees 1.2× its load rather than the
 * (1 + retries)× of a fixed retry count, and a retry storm cannot form. Over a sliding window of
 * ten one-second buckets, a retry is allowed while
 *
 *     retries < ratio × requests + minRetriesPerSecond × 10
 *
 * The reserve lets a quiet service (a handful of requests) still retry. Attempts that failed
 * before a byte was written (connection refused) are not charged: the upstream never saw them.
 */
const BUCKETS = 10;
const BUCKET_MS = 1_000;

export class RetryBudget {
  private readonly requests = new Uint32Array(BUCKETS);
  private readonly retries = new Uint32Array(BUCKETS);
  private requestSum = 0;
  private retrySum = 0;
  /** Index (time / BUCKET_MS) of the newest bucket. */
  private head = -1;
  private readonly reserve: number;

  constructor(
    private readonly ratio: number,
    minRetriesPerSecond: number,
    private readonly clock: () => number,
  ) {
    this.reserve = minRetriesPerSecond * BUCKETS * (BUCKET_MS / 1_000);
  }

  /** Counts one request (not its retries). */
  request(): void {
    const i = this.advance();
    this.requests[i]! += 1;
    this.requestSum += 1;
  }

  /** Whether a retry would be allowed now (takes nothing: see `tryRetry`). */
  allows(): boolean {
    this.advance();
    return this.retrySum < this.ratio * this.requestSum + this.reserve;
  }

  /** Takes one retry from the budget if there is one left; false means: do not retry. */
  tryRetry(): boolean {
    const i = this.advance();
    if (this.retrySum >= this.ratio * this.requestSum + this.reserve) return false;
    this.retries[i]! += 1;
    this.retrySum += 1;
    return true;
  }

  /** Moves the window to now, emptying the buckets that fell out; returns the current bucket. */
  private advance(): number {
    const now = Math.floor(this.clock() / BUCKET_MS);
    if (now !== this.head) {
      const steps = this.head < 0 ? BUCKETS : Math.min(now - this.head, BUCKETS);
      for (let s = 1; s <= steps; s++) {
        const i = (((this.head + s) % BUCKETS) + BUCKETS) % BUCKETS;
        this.requestSum -= this.requests[i]!;
        this.retrySum -= this.retries[i]!;
        this.requests[i] = 0;
        this.retries[i] = 0;
      }
      this.head = now;
    }
    return ((now % BUCKETS) + BUCKETS) % BUCKETS;
  }
}
