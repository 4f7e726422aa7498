/**
 * @ballast/prometheus: Prometheus metrics for Ballast balancers through prom-client.
 *
 * @packageDocumentation
 */
export {};
