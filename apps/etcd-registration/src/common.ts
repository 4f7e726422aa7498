import type http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What service.ts and gateway.ts share: settings from the environment, listening, a clean stop. */
export const HOST = '127.0.0.1';

/** An environment variable; an empty one (`PORT=`) counts as unset, not as a value to reject. */
export function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}
/** `ETCD_URL`: the etcd to register in and discover from. */
export const hosts = envValue('ETCD_URL') ?? 'http://127.0.0.1:2379';
/** `SERVICE`: the service name, one key segment under /ballast/services/. */
export const service = envValue('SERVICE') ?? 'hello';

/** Listens on HOST:port (0 for a free port) and resolves with the server's URL. */
export function listen(server: http.Server, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => resolve(`http://${HOST}:${(server.address() as AddressInfo).port}`));
  });
}

/** Closes a node:http server and its idle connections. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Runs `stop(signal)` once on SIGINT or SIGTERM; exits 1 if it takes over 5 s. */
export function onStop(stop: (signal: NodeJS.Signals) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5_000).unref();
    stop(signal).catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}

/**
 * Runs an async main. A failure (bad settings, etcd unreachable, a busy port) is one line on
 * stderr and exit code 1 at once: the server or the discovery watch already started would
 * otherwise keep the process running, doing nothing useful.
 */
export function run(program: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`${program}: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
