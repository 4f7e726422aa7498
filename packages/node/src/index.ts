/**
 * @ballast/node: Ballast's Node.js runtime layer. A balancing reverse-proxy engine on undici
 * (retries, timeouts, header hygiene, WebSocket upgrades, server-reported load) and active
 * health checks, for `node:http` and the framework adapters built on it.
 *
 * @packageDocumentation
 */
export { createProxy } from './proxy';
export { ProxyError, type ProxyErrorCode } from './errors';
export { parseLoadHeader } from './headers';
export { adapterOptions, isBalancer, resolveTarget } from './target';
export type {
  ForwardOptions,
  ForwardResponse,
  HealthCheckOptions,
  ProxyHandler,
  ProxyOptions,
  UpstreamRequest,
  UpstreamResponse,
} from './types';
