/**
 * @ballast/prometheus: Prometheus metrics for Ballast balancers through prom-client.
 *
 * @packageDocumentation
 */
export { collectMetrics } from './collect-metrics';
export type { AnyRegistry, MetricsCollector, MetricsOptions } from './types';
