import type { Registry, RegistryContentType } from 'prom-client';

/** A prom-client registry of either content type (Prometheus text or OpenMetrics). */
export type AnyRegistry = Registry<RegistryContentType>;

/** Options of `collectMetrics`. */
export interface MetricsOptions {
  /**
   * Where the metrics are registered. Default: a new `Registry` of its own (read it from the
   * returned function's `registry`); the global registry is used only if you pass it.
   */
  readonly registry?: AnyRegistry;
  /** Prefix of every metric name. Default `"ballast_"`. */
  readonly prefix?: string;
  /**
   * Upper bounds, in seconds, of `request_duration_seconds`. Default prom-client's:
   * 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10.
   */
  readonly buckets?: readonly number[];
  /**
   * Instance metadata keys to add as labels of the per-instance metrics (an instance without
   * the key gets `""`). None by default: labels stay bounded to service and instance ids.
   */
  readonly metadataLabels?: readonly string[];
}

/** What `collectMetrics` returns: call it to detach; `registry` is where the metrics are. */
export interface MetricsCollector {
  /**
   * Stops collecting for the balancers of this call and removes their series. Idempotent. A
   * balancer attached by several calls keeps reporting until each has detached.
   */
  (): void;
  /** The registry the metrics are in: the one passed, or the one created. */
  readonly registry: AnyRegistry;
}
