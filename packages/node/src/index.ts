/**
 * @ballast/node: Ballast's Node.js runtime layer. A balancing reverse-proxy engine on undici
 * (retries, timeouts, header hygiene, WebSocket upgrades, server-reported load) and active
 * health checks, for `node:http` and the framework adapters built on it.
 *
 * @packageDocumentation
 */
export { createProxy } from './proxy';
export {
  DIAGNOSTICS_CHANNELS,
  type DiagnosticsInstanceEvent,
  type DiagnosticsInstanceMessage,
} from './diagnostics';
export { ProxyError, type ProxyErrorCode } from './errors';
export { mergeEarlierHeaders, parseLoadHeader } from './headers';
export { parsedBody } from './parsed-body';
export { dnsDiscovery, type DnsDiscoveryOptions, type DnsResolver } from './dns-discovery';
export {
  createStatusHandler,
  type StatusAnswer,
  type StatusHandler,
  type StatusOptions,
  type StatusRequest,
  type StatusSnapshot,
  type StatusTarget,
} from './status';
export type { InstanceStatus, ServiceStatus, StatusChange, StatusLevel } from './status-recorder';
export type { RecentFigures, Series } from './status-window';
export { adapterOptions, isBalancer, resolveTarget, trustedByExpress } from './target';
export type {
  ForwardOptions,
  ForwardResponse,
  HealthCheckOptions,
  ProxyHandler,
  ProxyOptions,
  UpstreamRequest,
  UpstreamResponse,
} from './types';
