import type { Balancer, Lease, Logger, PickContext } from '@ballast/core';
import type { AxiosAdapter, AxiosResponse, InternalAxiosRequestConfig } from 'axios';

import type { AdapterResolver } from './adapters';

import {
  isCancel,
  isOneShot,
  isRetryable,
  isStream,
  isWebStream,
  releaseAnswered,
  releaseFailed,
} from './outcome';

/** What one installation of `withBalancer` shares with its requests. */
export interface Installation {
  readonly balancer: Balancer;
  readonly retries: number;
  readonly key: ((config: InternalAxiosRequestConfig) => string | undefined) | undefined;
  readonly logger: Logger;
  readonly adapters: AdapterResolver;
}

const perf = performance;
/** Marks the adapter of a balanced request, and leads back to the request. */
const REQUEST = Symbol('@ballast/axios.request');

/**
 * One request through a balanced client, across every time it is sent: the caller's `baseURL`
 * (the instance's URL is put in front of it on each attempt), axios's adapter that does the I/O,
 * and the instances already tried, which the next attempt avoids.
 *
 * It travels as the config's `adapter`, a function of its own: axios keeps that key (and the
 * function's identity) when a config is sent again, by axios-retry for example, in every axios
 * version, where symbol keys and copied objects would not survive a merge.
 */
export class BalancedRequest {
  /**
   * Instance ids that failed this request, oldest first, each once; allocated on the first
   * failure and dropped when an attempt gets a response.
   */
  tried: string[] | undefined;
  /**
   * The caller's `baseURL`, read when the request is sent: the caller's interceptors installed
   * before `withBalancer` run after its own (axios runs the last installed first) and may set it.
   */
  baseURL: string | undefined;
  /**
   * Every `baseURL` an attempt was sent with (an instance's URL first), to tell them from the
   * caller's: a config sent again may be any earlier attempt's (`response.config` of an older
   * sending, or two sendings of one config at once), not only the last one's. At most one per
   * instance for each `baseURL` of the caller's.
   */
  sentBaseURLs: Set<string> | undefined;
  /** The adapter this request is sent through: `config.adapter` while it is balanced. */
  readonly send: AxiosAdapter & { [REQUEST]?: BalancedRequest };

  constructor(
    readonly installation: Installation,
    readonly adapter: AxiosAdapter,
  ) {
    this.send = (config: InternalAxiosRequestConfig) => balancedSend(this, config);
    this.send[REQUEST] = this;
  }
}

/** The balanced request a config belongs to, if it is one already (sent again). */
const requestOf = (config: InternalAxiosRequestConfig): BalancedRequest | undefined =>
  typeof config.adapter === 'function' ? (config.adapter as BalancedRequest['send'])[REQUEST] : undefined;

// axios's own test, so that "relative" means what axios means by it.
const ABSOLUTE_URL = /^([a-z][a-z\d+\-.]*:)?\/\//i;

/**
 * The request interceptor: routes a request with a relative URL through a balanced adapter. A
 * request already balanced (sent again by a retry library) keeps its state. Absolute URLs, or a
 * `baseURL` that is absolute, go where they say.
 */
export function interceptor(installation: Installation) {
  return function ballastBalance(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig {
    if (requestOf(config) !== undefined || goesElsewhere(config)) return config;
    config.adapter = new BalancedRequest(installation, installation.adapters.resolve(config)).send;
    return config;
  };
}

/** Whether a request goes where its absolute URL, or its absolute `baseURL`, says: not balanced. */
function goesElsewhere(config: InternalAxiosRequestConfig): boolean {
  // A URL object (JavaScript callers; axios's types say string) is absolute, as axios finds by
  // testing its string form.
  const url: unknown = config.url;
  const absoluteUrl = (typeof url === 'string' || url instanceof URL) && ABSOLUTE_URL.test(String(url));
  if (absoluteUrl && config.allowAbsoluteUrls !== false) return true;
  return typeof config.baseURL === 'string' && ABSOLUTE_URL.test(config.baseURL);
}

/**
 * Sends one request to the instances the balancer picks, each attempt under a lease that is
 * released when the attempt settles (for a streamed body, when the body ends), so no outcome of
 * the adapter can leave a lease behind. Failed attempts are retried on instances not tried yet.
 */
async function balancedSend(
  request: BalancedRequest,
  config: InternalAxiosRequestConfig,
): Promise<AxiosResponse> {
  const { balancer, logger } = request.installation;
  // Sent again (axios-retry, `response.config`), the config keeps one of its attempts' baseURLs;
  // any other is the caller's, possibly set by one of the caller's interceptors that ran after
  // the balancing one.
  if (typeof config.baseURL !== 'string' || request.sentBaseURLs?.has(config.baseURL) !== true) {
    // Such an interceptor may also have made the request go elsewhere: then it is not balanced.
    if (goesElsewhere(config)) return request.adapter(config);
    request.baseURL = config.baseURL;
  }
  let retriesLeft = request.installation.retries;
  let lease = firstLease(request, config);
  for (;;) {
    const { url } = lease.instance;
    config.baseURL = request.baseURL === undefined ? url : joinURL(url, request.baseURL);
    (request.sentBaseURLs ??= new Set()).add(config.baseURL);
    const sentAt = perf.now();
    try {
      const response = await request.adapter(config);
      releaseAnswered(lease, response, perf.now() - sentAt);
      // The request is over: a config sent again after it (`response.config`, a poller) is a new
      // request, not a retry, and must not keep avoiding the instances that failed this one.
      request.tried = undefined;
      return response;
    } catch (error) {
      releaseFailed(lease, error, perf.now() - sentAt);
      // Once every instance has been tried, a retry library's later sendings go to any of them:
      // recording each again would only grow the list (and the balancer's `exclude`).
      const tried = (request.tried ??= []);
      if (!tried.includes(lease.instance.id)) tried.push(lease.instance.id);
      const next =
        retriesLeft > 0 &&
        !isCancel(error) &&
        !isOneShot(config.data) &&
        isRetryable(error, config.method, lease.instance.url)
          ? tryPick(balancer, request, config)
          : undefined;
      logger.debug(
        {
          service: balancer.service,
          instance: lease.instance.id,
          method: config.method,
          url: config.url,
          error,
          retried: next !== undefined,
        },
        next === undefined ? 'ballast: attempt failed' : 'ballast: retrying on another instance',
      );
      if (next === undefined) throw error;
      // A failed response's streamed body holds a connection nobody will read.
      const body: unknown = (error as { response?: AxiosResponse } | null)?.response?.data;
      if (isStream(body)) body.destroy();
      else if (isWebStream(body)) body.cancel().catch(() => undefined);
      retriesLeft -= 1;
      lease = next;
    }
  }
}

/**
 * The first lease of one sending: on an instance not tried yet when the request is sent again,
 * or on any instance once every one has been tried (a retry library asked for another go).
 */
function firstLease(request: BalancedRequest, config: InternalAxiosRequestConfig): Lease {
  const { balancer, logger } = request.installation;
  try {
    if (request.tried !== undefined) {
      const lease = tryPick(balancer, request, config);
      if (lease !== undefined) return lease;
    }
    return balancer.pick(pickContext(request, config, undefined));
  } catch (error) {
    logger.warn(
      { service: balancer.service, method: config.method, url: config.url, error },
      'ballast: no instance can take the request',
    );
    throw error;
  }
}

/**
 * A lease on an instance not tried yet, or undefined when there is none, or when the balancer
 * was closed (`detachBalancer`, application shutdown) while the request was in flight: the
 * request then ends with its own attempt's error, not the balancer's.
 */
function tryPick(balancer: Balancer, request: BalancedRequest, config: InternalAxiosRequestConfig) {
  try {
    return balancer.pick(pickContext(request, config, request.tried));
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'BALLAST_NO_INSTANCE' || code === 'BALLAST_CLOSED') return undefined;
    throw error;
  }
}

const NO_CONTEXT: PickContext = {};

function pickContext(
  request: BalancedRequest,
  config: InternalAxiosRequestConfig,
  exclude: readonly string[] | undefined,
): PickContext {
  const key = keyOf(request.installation, config);
  if (key === undefined && exclude === undefined) return NO_CONTEXT;
  return { key, exclude };
}

/** An instance URL and the caller's relative `baseURL`, with exactly one slash between them. */
function joinURL(instanceURL: string, path: string): string {
  if (path === '') return instanceURL;
  return `${instanceURL.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** The user's affinity key; a key function that throws costs the request its affinity, nothing more. */
function keyOf(installation: Installation, config: InternalAxiosRequestConfig): string | undefined {
  if (installation.key === undefined) return undefined;
  try {
    return installation.key(config);
  } catch (error) {
    installation.logger.warn(
      { service: installation.balancer.service, error },
      'ballast: the key function threw',
    );
    return undefined;
  }
}
