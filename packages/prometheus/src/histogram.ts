import type { Attachment } from './attachment';

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
      for (const series of attachment.allSeries()) {
        let cumulative = 0;
        for (let i = 0; i < this.buckets.length; i++) {
          cumulative += series.bucket(i);
          values.push({
            value: cumulative,
            labels: { ...series.labels, le: this.buckets[i]! },
            metricName: bucketName,
          });
        }
        values.push(
          { value: series.count, labels: { ...series.labels, le: '+Inf' }, metricName: bucketName },
          { value: series.sumMs / 1000, labels: series.labels, metricName: `${this.name}_sum` },
          { value: series.count, labels: series.labels, metricName: `${this.name}_count` },
        );
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** `registry.resetMetrics()`: every series starts over. */
  reset(): void {
    for (const attachment of this.attachments()) for (const series of attachment.allSeries()) series.clear();
  }
}
