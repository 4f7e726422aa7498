import type { Balancer, BalancerEvents, Instance } from '@ballast/core';
import type { BucketIndex } from './bucket-index';
import { record, Series, SeriesStore } from './series';

type Labels = Record<string, string>;

/**
 * One balancer attached to one set of metrics. Its release observer (core's `observeReleases`,
 * which allocates nothing, where the `release` event alone costs about a tenth of a pick) is the
 * whole hot-path cost of metrics: a slot check, a bucket lookup and three additions into a flat
 * array. prom-client's `inc()` and `observe()` hash their labels on every call (a labelled child
 * too), more than a whole pick costs, so counts are handed to prom-client when the registry is
 * scraped.
 */
export class Attachment {
  refs = 0;
  /** Live series, by instance. */
  readonly series = new Map<Instance, Series>();
  /** Series of instances gone or relabelled, reported by one last scrape. */
  retired: Series[] = [];
  /** The instance whose numbers are in each slot's row of the store. */
  private readonly owners: (Instance | undefined)[] = [];
  private readonly store: SeriesStore;
  private unobserve: (() => void) | undefined;
  /** Counts since the last scrape. */
  retries = 0;
  noInstance = 0;
  switches = 0;
  /** Every strategy seen active, reported as 0 when it is not (`strategy_info`). */
  readonly strategies = new Set<string>();

  constructor(
    readonly balancer: Balancer,
    private readonly bucketOf: BucketIndex,
    private readonly metadataLabels: readonly string[],
  ) {
    this.store = new SeriesStore(bucketOf.size);
  }

  get service(): string {
    return this.balancer.service;
  }

  start(): void {
    this.unobserve = this.balancer.observeReleases(this.onRelease);
    this.balancer.on('retry', this.onRetry);
    this.balancer.on('no-instance', this.onNoInstance);
    this.balancer.on('strategy-change', this.onStrategyChange);
    if (this.metadataLabels.length > 0) this.balancer.on('instance-updated', this.onUpdated);
  }

  stop(): void {
    this.unobserve?.();
    this.unobserve = undefined;
    this.balancer.off('retry', this.onRetry);
    this.balancer.off('no-instance', this.onNoInstance);
    this.balancer.off('strategy-change', this.onStrategyChange);
    this.balancer.off('instance-updated', this.onUpdated);
  }

  /** The labels of an instance's per-instance series: service, instance and allowed metadata. */
  labelsOf(id: string, metadata: Readonly<Record<string, string>>): Labels {
    const labels: Labels = { service: this.service, instance: id };
    // Own keys only: a label named `constructor` must not read Object.prototype's.
    for (const key of this.metadataLabels) labels[key] = Object.hasOwn(metadata, key) ? metadata[key]! : '';
    return labels;
  }

  /**
   * Another series with the labels of retired `series`, if any: a live or kept one, else one of
   * `pending` from index `from` (the retired series a scrape has yet to go through).
   */
  heirOf(series: Series, pending: readonly Series[], from: number): Series | undefined {
    for (const other of this.allSeries()) if (other.key === series.key) return other;
    for (let i = from; i < pending.length; i++) if (pending[i]!.key === series.key) return pending[i];
    return undefined;
  }

  /** Every series to report: current and retired. */
  *allSeries(): IterableIterator<Series> {
    yield* this.series.values();
    yield* this.retired;
  }

  private readonly onRelease = (instance: Instance, ok: boolean, slot: number): void => {
    if (this.owners[slot] !== instance) this.open(instance, slot);
    const store = this.store;
    const latencyMs = instance.lastLatencyMs;
    record(store.data, slot * store.stride, ok, latencyMs, this.bucketOf.of(latencyMs));
  };

  /** Starts the series of an instance's first release in `slot`, retiring the slot's last owner. */
  private open(instance: Instance, slot: number): void {
    const previous = this.owners[slot];
    const old = previous === undefined ? undefined : this.series.get(previous);
    if (previous !== undefined && old !== undefined) this.retire(previous, old);
    this.store.ensure(slot);
    this.owners[slot] = instance;
    const labels = this.labelsOf(instance.id, instance.metadata);
    this.series.set(instance, new Series(this.store, this.store.stride, slot, labels));
  }

  /** Stops recording into the series of `instance`; it is reported by one more scrape. */
  retire(instance: Instance, series: Series): void {
    this.series.delete(instance);
    const slot = this.owners.indexOf(instance);
    if (slot >= 0) this.owners[slot] = undefined;
    series.detach();
    series.reported = false;
    this.retired.push(series);
  }

  /** Labelled metadata changed: the instance continues in a new series. */
  private readonly onUpdated = (event: BalancerEvents['instance-updated']): void => {
    const series = this.series.get(event.instance);
    if (series === undefined) return;
    const labels = this.labelsOf(event.instance.id, event.instance.metadata);
    if (this.metadataLabels.every((key) => labels[key] === series.labels[key])) return;
    this.retire(event.instance, series);
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
