/**
 * @ballast/prometheus: Prometheus metrics for Ballast balancers through prom-client.
 *
 * @packageDocumentation
 */
export { collectMetrics } from './collect-metrics';
export type { MetricsCollector, MetricsOptions } from './types';
