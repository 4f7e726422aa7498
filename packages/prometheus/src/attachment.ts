import type { Balancer, BalancerEvents, Instance } from '@ballast/core';

type Labels = Record<string, string>;

/**
 * What one instance has served since it was first seen: request outcomes not yet handed to
 * prom-client, and its latency histogram (counts per bucket, not cumulative).
 */
export class Series {
  /** Outcomes since the last scrape. */
  ok = 0;
  /** Retired series: whether a scrape has seen it since it retired. */
  reported = false;
  failed = 0;
  count = 0;
  sumMs = 0;
  readonly buckets: Float64Array;
  readonly success: Labels;
  readonly failure: Labels;

  constructor(
    readonly instance: Instance,
    readonly labels: Labels,
    bucketCount: number,
  ) {
    this.buckets = new Float64Array(bucketCount);
    this.success = { ...labels, outcome: 'success' };
    this.failure = { ...labels, outcome: 'failure' };
  }

  clear(): void {
    this.buckets.fill(0);
    this.count = 0;
    this.sumMs = 0;
  }
}

/**
 * One balancer attached to one set of metrics. The release listener is the whole hot-path cost
 * of metrics: a map lookup, two additions and a bucket search, in plain numbers. prom-client's
 * `inc()` and `observe()` hash their labels on every call (a labelled child too), several times
 * the cost of a pick, so counts are handed to prom-client only when the registry is scraped.
 */
export class Attachment {
  refs = 0;
  readonly series = new Map<Instance, Series>();
  /** Series of instances gone or relabelled, reported by one last scrape. */
  retired: Series[] = [];
  /** Counts since the last scrape. */
  retries = 0;
  noInstance = 0;
  switches = 0;
  /** Every strategy seen active, reported as 0 when it is not (`strategy_info`). */
  readonly strategies = new Set<string>();

  constructor(
    readonly balancer: Balancer,
    private readonly boundsMs: readonly number[],
    private readonly metadataLabels: readonly string[],
  ) {}

  get service(): string {
    return this.balancer.service;
  }

  start(): void {
    this.balancer.on('release', this.onRelease);
    this.balancer.on('retry', this.onRetry);
    this.balancer.on('no-instance', this.onNoInstance);
    this.balancer.on('strategy-change', this.onStrategyChange);
    if (this.metadataLabels.length > 0) this.balancer.on('instance-updated', this.onUpdated);
  }

  stop(): void {
    this.balancer.off('release', this.onRelease);
    this.balancer.off('retry', this.onRetry);
    this.balancer.off('no-instance', this.onNoInstance);
    this.balancer.off('strategy-change', this.onStrategyChange);
    this.balancer.off('instance-updated', this.onUpdated);
  }

  /** The labels of an instance's per-instance series: service, instance and allowed metadata. */
  labelsOf(id: string, metadata: Readonly<Record<string, string>>): Labels {
    const labels: Labels = { service: this.service, instance: id };
    for (const key of this.metadataLabels) labels[key] = metadata[key] ?? '';
    return labels;
  }

  /** Every series to report: current and retired. */
  *allSeries(): IterableIterator<Series> {
    yield* this.series.values();
    yield* this.retired;
  }

  private readonly onRelease = (event: BalancerEvents['release']): void => {
    const instance = event.instance;
    let series = this.series.get(instance);
    if (series === undefined) {
      series = new Series(instance, this.labelsOf(instance.id, instance.metadata), this.boundsMs.length);
      this.series.set(instance, series);
    }
    if (event.outcome.ok) series.ok += 1;
    else series.failed += 1;
    const ms = event.latencyMs;
    series.count += 1;
    series.sumMs += ms;
    // Buckets are few (11 by default) and most latencies fall in the first ones: a linear scan.
    const bounds = this.boundsMs;
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    if (i < bounds.length) series.buckets[i]! += 1;
  };

  /** Labelled metadata changed: the instance continues in a new series. */
  private readonly onUpdated = (event: BalancerEvents['instance-updated']): void => {
    const series = this.series.get(event.instance);
    if (series === undefined) return;
    const metadata = event.instance.metadata;
    if (this.metadataLabels.every((key) => (metadata[key] ?? '') === series.labels[key])) return;
    this.series.delete(event.instance);
    series.reported = false;
    this.retired.push(series);
  };

  private readonly onRetry = (): void => {
    this.retries += 1;
  };

  private readonly onNoInstance = (): void => {
    this.noInstance += 1;
  };

  private readonly onStrategyChange = (event: BalancerEvents['strategy-change']): void => {
    this.switches += 1;
    this.strategies.add(event.from);
    this.strategies.add(event.to);
  };
}
