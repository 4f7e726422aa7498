import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Duplex } from 'node:stream';

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

/** A service's balanced axios instance, and how to let go of the connections it keeps. */
export interface BalancedHttp {
  readonly client: AxiosInstance;
  /** Closes its idle keep-alive connections now and the others as their requests end. */
  close(): void;
}

/**
 * `axios.create(config)` wired through `withBalancer(client, balancer, { retries, key, logger })`.
 * Unless `config` brings its own, the client gets keep-alive agents of its own rather than
 * Node's global one, so that closing the service closes its connections too.
 */
export function createBalancedHttp(
  balancer: Balancer,
  options: ServiceConfig['http'],
  logger: Logger,
): BalancedHttp {
  const purpose = `The balanced HTTP client of service "${balancer.service}"`;
  const axios = loadPeer<AxiosStatic | { default: AxiosStatic }>('axios', purpose);
  const { withBalancer } = loadPeer<typeof BallastAxios>('@ballast/axios', purpose);
  const { config, ...balancing } = options ?? {};
  const owned: HttpAgent[] = [];
  let closed = false;
  const own = (agent: HttpAgent) => {
    const keep = agent.keepSocketAlive.bind(agent) as (socket: Duplex) => boolean;
    // Node's documented hook: a falsy result destroys a released socket instead of keeping it.
    (agent as unknown as { keepSocketAlive: (socket: Duplex) => boolean }).keepSocketAlive = (socket) =>
      !closed && keep(socket);
    owned.push(agent);
    return agent;
  };
  const client = ('create' in axios ? axios : axios.default).create({
    ...config,
    httpAgent: config?.httpAgent ?? own(new HttpAgent({ keepAlive: true })),
    httpsAgent: config?.httpsAgent ?? own(new HttpsAgent({ keepAlive: true })),
  });
  return {
    client: withBalancer(client, balancer, { ...balancing, logger }),
    close: () => {
      closed = true;
      for (const agent of owned) {
        for (const sockets of Object.values(agent.freeSockets)) for (const s of sockets ?? []) s.destroy();
      }
    },
  };
}
