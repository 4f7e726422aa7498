import type { Attachment } from './attachment';
import type { Series } from './series';

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

/**
 * `request_duration_seconds` as a registry sees a prom-client histogram (`name`, `help`, `type`,
 * `aggregator`, `get()`, `reset()`), read from the attachments' own bucket counts at scrape time.
 * prom-client's `Histogram` has no way to add counts in bulk, and its `observe()` is too slow
 * for every request (see `Attachment`).
 */
export class LatencyHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly buckets: readonly number[],
    private readonly attachments: () => Iterable<Attachment>,
    private readonly prepare: () => void,
  ) {}

  // Async like prom-client's own metrics: a registry awaits it.
  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    this.prepare();
    const values: Value[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const attachment of this.attachments()) {
      // Series that share labels (an id removed and added again, one draining beside its
      // successor) are one label set to Prometheus: reported once, with their numbers summed.
      const sets = new Map<string, Series[]>();
      for (const series of attachment.allSeries()) {
        const set = sets.get(series.key);
        if (set === undefined) sets.set(series.key, [series]);
        else set.push(series);
      }
      for (const set of sets.values()) {
        const labels = set[0]!.labels;
        let cumulative = 0;
        for (let i = 0; i < this.buckets.length; i++) {
          for (const series of set) cumulative += series.bucket(i);
          values.push({
            value: cumulative,
            labels: { ...labels, le: this.buckets[i]! },
            metricName: bucketName,
          });
        }
        let count = 0;
        let sumMs = 0;
        for (const series of set) {
          count += series.count;
          sumMs += series.sumMs;
        }
        values.push(
          { value: count, labels: { ...labels, le: '+Inf' }, metricName: bucketName },
          { value: sumMs / 1000, labels, metricName: `${this.name}_sum` },
          { value: count, labels, metricName: `${this.name}_count` },
        );
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /**
   * `registry.resetMetrics()`: every series starts over, and so do the counts that wait for the
   * next scrape (retries, picks with no instance, strategy switches), which prom-client's own
   * counters would otherwise get after their reset.
   */
  reset(): void {
    for (const attachment of this.attachments()) {
      for (const series of attachment.allSeries()) series.clear();
      attachment.retries = attachment.noInstance = attachment.switches = 0;
    }
  }
}
