import {
  BallastError,
  createBalancer,
  InvalidConfigError,
  parseLogger,
  type Balancer,
  type BalancerOptions,
} from '@ballast/core';
import type { AxiosInstance } from 'axios';

import { AdapterResolver } from './adapters';
import { interceptor, type Installation } from './balanced-request';
import type { WithBalancerOptions } from './types';

/** Marks an axios instance that has a balancer; `Symbol.for` so every copy of the package sees it. */
const INSTALLED = Symbol.for('@ballast/axios.installed');

interface Installed extends Installation {
  readonly interceptorId: number;
  /** Whether `withBalancer` created the balancer, and `detachBalancer` closes it. */
  readonly owned: boolean;
}

type Marked = AxiosInstance & { [INSTALLED]?: Installed };

/**
 * Balances an axios instance over the instances of one upstream service: each request with a
 * relative URL is sent to the instance the balancer picks, under a lease released with the
 * attempt's status, latency and error, so slow and failing instances get less traffic and broken
 * ones none. Absolute URLs (and an absolute `baseURL`) go where they say, unbalanced. A relative
 * `baseURL` is kept, after the instance's URL.
 *
 * - `target`: an existing `Balancer` (used as it is; `detachBalancer` leaves it open), or
 *   `BalancerOptions` for a new one (closed by `detachBalancer`).
 * - `options.retries` (default 1): attempts on other instances after a failure; see
 *   {@link WithBalancerOptions}. axios-retry and similar libraries work on top: a request they
 *   send again goes to an instance it has not tried yet.
 * - A request no instance can take rejects at once with a `BallastError` coded
 *   `BALLAST_NO_INSTANCE`. Cancelling (`signal`) releases the lease without blaming the
 *   instance; a `responseType: 'stream'` body holds its lease until it ends or closes.
 *
 * Returns the same axios instance. Throws `BALLAST_ALREADY_ATTACHED` if the instance already has
 * a balancer, and `BALLAST_INVALID_CONFIG` for invalid arguments.
 *
 * @example
 * ```ts
 * import axios from 'axios';
 * import { withBalancer } from '@ballast/axios';
 *
 * const users = withBalancer(axios.create({ timeout: 2_000 }), {
 *   service: 'users',
 *   instances: ['http://10.0.0.1:3000', 'http://10.0.0.2:3000'],
 * });
 * const { data } = await users.get('/users/42'); // sent to the instance the balancer picked
 * ```
 */
export function withBalancer<T extends AxiosInstance>(
  axiosInstance: T,
  target: Balancer | BalancerOptions,
  options: WithBalancerOptions = {},
): T {
  if (!isAxiosInstance(axiosInstance)) {
    throw new InvalidConfigError('axiosInstance', axiosInstance, 'an axios instance, such as axios.create()');
  }
  const marked = axiosInstance as Marked;
  if (marked[INSTALLED] !== undefined) {
    throw new BallastError(
      'BALLAST_ALREADY_ATTACHED',
      'This axios instance already has a balancer; call detachBalancer() on it first, or use axios.create() for another service',
    );
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidConfigError('options', options, 'expected { retries?, key?, logger? }');
  }
  const { retries = 1, key } = options;
  const logger = parseLogger(options.logger);
  if (!Number.isInteger(retries) || retries < 0) {
    throw new InvalidConfigError('retries', retries, 'a whole number of retries, 0 or more');
  }
  if (key !== undefined && typeof key !== 'function') {
    throw new InvalidConfigError('key', key, 'a function of the request config');
  }
  if (typeof target !== 'object' || target === null) {
    throw new InvalidConfigError('target', target, 'a Balancer or BalancerOptions');
  }
  const owned = !isBalancer(target);
  const balancer = owned ? createBalancer(target) : target;
  const adapters = new AdapterResolver(axiosInstance);
  const installation: Installation = { balancer, retries, key, logger, adapters };
  const interceptorId = marked.interceptors.request.use(
    interceptor(installation),
    (error: unknown) => {
      throw error;
    },
    // Synchronous: axios then skips the promise hops of an asynchronous interceptor chain.
    { synchronous: true },
  );
  Object.defineProperty(marked, INSTALLED, {
    value: { ...installation, interceptorId, owned } satisfies Installed,
    configurable: true,
    enumerable: false,
  });
  return axiosInstance;
}

/**
 * Removes what `withBalancer` installed: later requests go out as plain axios requests; those in
 * flight finish on their instances and release their leases. Closes the balancer if
 * `withBalancer` created it from options. Returns false if the instance had no balancer.
 */
export function detachBalancer(axiosInstance: AxiosInstance): boolean {
  const marked = axiosInstance as Marked;
  const installed = marked[INSTALLED];
  if (installed === undefined) return false;
  marked.interceptors.request.eject(installed.interceptorId);
  delete marked[INSTALLED];
  if (installed.owned) installed.balancer.close();
  return true;
}

/** The balancer of an axios instance `withBalancer` set up, if any: for `snapshot()`, events, `add()`... */
export function balancerOf(axiosInstance: AxiosInstance): Balancer | undefined {
  return (axiosInstance as Marked)[INSTALLED]?.balancer;
}

function isAxiosInstance(value: unknown): value is AxiosInstance {
  const candidate = value as Partial<AxiosInstance> | null;
  return (
    (typeof candidate === 'function' || typeof candidate === 'object') &&
    candidate !== null &&
    typeof candidate.interceptors?.request?.use === 'function'
  );
}

const isBalancer = (value: object): value is Balancer =>
  typeof (value as Partial<Balancer>).pick === 'function' &&
  typeof (value as Partial<Balancer>).snapshot === 'function';
