import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import type { Balancer, InstanceInput, Logger, StrategyName } from '@ballast/core';

import type { LineLogger } from './log';
import { lineLogger } from './log';
import { envValue } from './flags';
import { servicesFromEnv, type Services } from './services';

/**
 * The `main` of the example gateways: two services, `users` and `orders`, from the environment
 * (see `servicesFromEnv`); `BALLAST_STRATEGY`; `PORT` (default 3000, 0 for a free one);
 * `STATUS_TOKEN`. Prints the URLs to try and stops cleanly on SIGINT and SIGTERM.
 */
export async function runGateway(
  label: string,
  start: (options: {
    services: Services;
    strategy?: string;
    port: number;
    statusToken?: string;
    logger: LineLogger;
  }) => Promise<{ url: string; close(): Promise<void> }>,
): Promise<void> {
  try {
    const { services, started } = await servicesFromEnv(['users', 'orders']);
    const gateway = await start({
      services,
      strategy: envValue('BALLAST_STRATEGY'),
      port: Number(envValue('PORT') ?? 3000),
      statusToken: envValue('STATUS_TOKEN'),
      logger: lineLogger('info'),
    });
    for (const upstream of started) console.log(`demo upstream ${upstream.name} on ${upstream.url}`);
    console.log(`${label} gateway on ${gateway.url}
  ${gateway.url}/users/42      balanced over ${services.users!.join(', ')}
  ${gateway.url}/orders/7      balanced over ${services.orders!.join(', ')}
  ${gateway.url}/ballast/      the live status page
  ${gateway.url}/metrics       Prometheus metrics`);
    const stop = (): void => {
      void Promise.all([gateway.close(), ...started.map((upstream) => upstream.close())]).then(() =>
        process.exit(0),
      );
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    console.error(`${label} gateway: ${(err as Error).message}`);
    process.exit(1);
  }
}

/** What each example gateway's `startGateway` takes. */
export interface GatewayOptions {
  /** Instances (URLs or `{ id, url }`) of each service; `/<name>` and everything under it goes to it. */
  readonly services: Readonly<Record<string, readonly InstanceInput[]>>;
  /** Default: the balancer's default (`adaptive`). */
  readonly strategy?: StrategyName;
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** Required by the status page when set (Bearer header or `?token=`). */
  readonly statusToken?: string;
  readonly logger?: Logger;
}

/** A running example gateway. */
export interface RunningGateway {
  readonly url: string;
  readonly balancers: readonly Balancer[];
  close(): Promise<void>;
}

/** What balances one service's WebSocket handshakes: a proxy's `upgrade`. */
export type UpgradeHandler = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Sends each WebSocket handshake for `/<service>` or a path under it (as HTTP requests are
 * routed: `/usersx` is not `/users`) to that service's `upgrade`; any other gets a 404.
 */
export function balanceUpgrades(
  server: http.Server,
  upgrades: Readonly<Record<string, UpgradeHandler>>,
): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const service = Object.keys(upgrades).find((name) => path === `/${name}` || path.startsWith(`/${name}/`));
    if (service !== undefined) upgrades[service]!(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
}

/** How long `close()` lets requests under way finish before it closes their connections. */
const CLOSE_GRACE_MS = 2_000;

/**
 * Listens with `server` and returns the running gateway, whose `close()` stops accepting, then
 * runs `cleanup` (status page, metrics, proxies). If it cannot listen, it runs `cleanup` and
 * rejects with the listen error.
 */
export async function serveGateway(
  server: http.Server,
  options: GatewayOptions,
  balancers: readonly Balancer[],
  cleanup: () => Promise<unknown>,
): Promise<RunningGateway> {
  const { host = '127.0.0.1', port = 0 } = options;
  // server.close() waits for every connection, and a keep-alive client that sends back to back
  // (a load generator) never leaves its connection idle: once closing, each answer ends its
  // connection, and each that was already under way frees its own when it is done.
  let closing = false;
  // Every socket, upgraded ones (WebSockets) included, which server.closeAllConnections() misses.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
    if (closing) res.setHeader('connection', 'close');
    else res.once('finish', () => closing && setImmediate(() => server.closeIdleConnections()));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    // A busy port: what startGateway built (health checks, pools, metrics) must not run on.
    await cleanup();
    throw err;
  }
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${actual}`,
    balancers,
    async close() {
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A client that holds a request half sent, or a WebSocket, would hold close() forever.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, CLOSE_GRACE_MS).unref();
      });
      await cleanup();
    },
  };
}
