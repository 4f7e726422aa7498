import type { Logger } from '@ballast/core';
import type { InternalAxiosRequestConfig } from 'axios';

/** Options of `withBalancer`, beyond the balancer itself. */
export interface WithBalancerOptions {
  /**
   * Further attempts on other instances after a failed one, per request. Default 1. A failure
   * before the request reached the instance (connection refused, host unreachable) is retried
   * for every method; a 5xx response, a connection reset or a timeout only for idempotent
   * methods (GET, HEAD, OPTIONS, PUT, DELETE, QUERY). A request whose body is a stream is never
   * retried: it cannot be sent twice.
   */
  readonly retries?: number;
  /** Affinity key for the `consistent-hash` strategy (user id, tenant...), read per request. */
  readonly key?: (config: InternalAxiosRequestConfig) => string | undefined;
  /** pino-compatible logger for retries and requests no instance could take. Default: silent. */
  readonly logger?: Logger;
}
