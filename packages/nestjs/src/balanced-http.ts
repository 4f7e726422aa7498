import { BallastError, type Balancer, type Logger } from '@ballast/core';
import type * as BallastAxios from '@ballast/axios';
import type { AxiosInstance, AxiosStatic } from 'axios';

import type { ServiceConfig } from './types';

/**
 * Loads an optional peer. CommonJS `require` on purpose: the application's own
 * `require('axios')` gets the same module instance, so `instanceof AxiosError` and
 * `axios.isCancel` keep working on what our clients throw.
 */
function loadPeer<T>(name: string, purpose: string): T {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- optional peer, loaded on first use
    return require(name) as T;
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    throw new BallastError(
      'BALLAST_MISSING_PEER',
      `${purpose} needs the optional peer dependency ${name}: install it (npm install axios @ballast/axios)`,
      { cause: error },
    );
  }
}

/** Whether both peers of the balanced HTTP client can be loaded. */
export function balancedHttpAvailable(): boolean {
  try {
    require.resolve('axios');
    require.resolve('@ballast/axios');
    return true;
  } catch {
    return false;
  }
}

/** `axios.create(config)` wired through `withBalancer(client, balancer, { retries, key, logger })`. */
export function createBalancedHttp(
  balancer: Balancer,
  options: ServiceConfig['http'],
  logger: Logger,
): AxiosInstance {
  const purpose = `The balanced HTTP client of service "${balancer.service}"`;
  const axios = loadPeer<AxiosStatic | { default: AxiosStatic }>('axios', purpose);
  const { withBalancer } = loadPeer<typeof BallastAxios>('@ballast/axios', purpose);
  const { config, ...balancing } = options ?? {};
  const client = ('create' in axios ? axios : axios.default).create(config);
  return withBalancer(client, balancer, { ...balancing, logger });
}
