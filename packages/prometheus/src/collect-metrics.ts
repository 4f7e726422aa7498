import type { Balancer } from '@ballast/core';
import type { Attachment } from './attachment';
import { hubFor } from './hub';
import { parseBalancers, parseMetricsOptions } from './options';
import type { MetricsCollector, MetricsOptions } from './types';

/**
 * Reports one or more balancers as Prometheus metrics through prom-client (a peer dependency):
 * requests by outcome, latency histogram, in-flight, health, ejections, instances by state, the
 * active strategy and its switches, retries and picks that found no instance. Labels are service
 * names and instance ids only (plus the metadata keys named in `metadataLabels`).
 *
 * Get or create: metrics are registered in `registry` (default: a new one, never the global one
 * unless you pass it) on the first call and reused by later calls with the same `prefix`, so
 * calling it twice, or per balancer, never throws "already registered"; a balancer attached twice
 * is counted once. Per-request counts cost a few nanoseconds on release and reach prom-client when
 * the registry is scraped; gauges are read from each balancer's snapshot at scrape time.
 *
 * Throws `InvalidConfigError` naming the field for a bad option, for two different balancers with
 * one service name in one registry (a closed balancer gives its name up to the next: its series
 * go), or for a metric name already taken in the registry by
 * something else. Returns a function that detaches what this call attached (idempotent), with
 * the `registry` on it.
 *
 * @example
 * import express from 'express';
 * import { Registry } from 'prom-client';
 * import { createBalancer } from '@ballast/core';
 * import { collectMetrics } from '@ballast/prometheus';
 *
 * const registry = new Registry();
 * const users = createBalancer({ service: 'users', instances: ['http://10.0.0.1:3000'] });
 * collectMetrics(users, { registry });
 * const app = express();
 * app.get('/metrics', async (_req, res) => {
 *   res.type(registry.contentType).send(await registry.metrics());
 * });
 */
export function collectMetrics(
  balancerOrBalancers: Balancer | readonly Balancer[],
  options?: MetricsOptions,
): MetricsCollector {
  const balancers = parseBalancers(balancerOrBalancers);
  const config = parseMetricsOptions(options);
  const hub = hubFor(config);
  const attached: Attachment[] = [];
  try {
    balancers.forEach((balancer, i) => {
      attached.push(hub.attach(balancer, Array.isArray(balancerOrBalancers) ? `balancer[${i}]` : 'balancer'));
    });
  } catch (error) {
    for (const attachment of attached) hub.detach(attachment);
    throw error;
  }
  let detached = false;
  const detach = function detachMetrics(): void {
    if (detached) return;
    detached = true;
    for (const attachment of attached) hub.detach(attachment);
  };
  return Object.defineProperty(detach, 'registry', {
    value: config.registry,
    enumerable: true,
  }) as MetricsCollector;
}
