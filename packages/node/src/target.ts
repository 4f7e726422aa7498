import type { IncomingMessage } from 'node:http';
import { InvalidConfigError, type Balancer, type BalancerOptions, type StrategyName } from '@ballast/core';

/** Whether `value` is a ready balancer rather than options for one. */
export function isBalancer(value: unknown): value is Balancer {
  const candidate = value as Partial<Balancer> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.pick === 'function' &&
    typeof candidate.reportCheck === 'function' &&
    typeof candidate.snapshot === 'function'
  );
}

/**
 * What an adapter hands to `createProxy`: an existing balancer as it is; options with what they
 * leave out taken from the environment, `BALLAST_INSTANCES` (comma-separated URLs) and
 * `BALLAST_STRATEGY`. Options with `instances` or a `discovery` source keep them. Throws
 * `InvalidConfigError` naming both variables when neither the options nor the environment give
 * instances.
 *
 * @example
 * ```ts
 * // BALLAST_INSTANCES=http://10.0.0.1:3000,http://10.0.0.2:3000
 * const proxy = createProxy(resolveTarget(undefined));
 * ```
 */
export function resolveTarget(
  target: Balancer | BalancerOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Balancer | BalancerOptions {
  if (isBalancer(target)) return target;
  const options: BalancerOptions = { ...target };
  // Core validates the name, and its error names the field and the value.
  const strategy = env.BALLAST_STRATEGY?.trim() as StrategyName | undefined;
  const fromEnv = options.strategy === undefined && strategy ? { strategy } : {};
  if (options.instances !== undefined || options.discovery !== undefined) return { ...options, ...fromEnv };

  const raw = env.BALLAST_INSTANCES;
  const instances = (raw ?? '')
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
  if (instances.length === 0) {
    throw new InvalidConfigError(
      'instances',
      raw,
      'pass `instances`, or set BALLAST_INSTANCES to comma-separated upstream URLs ' +
        'and optionally BALLAST_STRATEGY to a strategy name',
    );
  }
  return { ...options, ...fromEnv, instances };
}

/**
 * An adapter's proxy options, checked before they are split: `undefined` is `{}`; anything but
 * an options object throws `InvalidConfigError` at `proxy`, and an `onError` that is not a
 * function at `proxy.onError` (the adapter wraps it, so `createProxy` would never see it).
 *
 * @example
 * ```ts
 * const { onError, ...options } = adapterOptions(proxyOptions);
 * ```
 */
export function adapterOptions<T extends { readonly onError?: unknown }>(value: T | undefined): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidConfigError('proxy', value, 'expected an options object');
  if (value.onError !== undefined && typeof value.onError !== 'function')
    throw new InvalidConfigError('proxy.onError', value.onError, 'expected a function');
  return value;
}

/**
 * Express's answer to whether a client's `X-Forwarded-Proto` and `-Host` stand (a
 * `trustForwarded` function for adapters on Express, NestJS's included): its `trust proxy`
 * setting applied to the peer's address, as for `req.protocol` and `req.host`. Its default,
 * false, trusts no one. A request with no Express app to ask (an upgrade, which never passes
 * through Express, or another platform) is not trusted either.
 */
export function trustedByExpress(req: IncomingMessage): boolean {
  const app = (req as { app?: { get?: (setting: string) => unknown } }).app;
  const trust = typeof app?.get === 'function' ? app.get('trust proxy fn') : undefined;
  return typeof trust === 'function' && trust(req.socket?.remoteAddress, 0) === true;
}
