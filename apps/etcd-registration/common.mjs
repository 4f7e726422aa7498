// What service.mjs and gateway.mjs share: the sources through the swc hook (no build needed),
// the settings both read from the environment, and a clean stop on SIGTERM or Ctrl-C.
import { createRequire } from 'node:module';
import process from 'node:process';

export const require = createRequire(import.meta.url);
require('../../tools/sim/register.cjs');

export const HOST = '127.0.0.1';
export const hosts = process.env.ETCD_URL ?? 'http://127.0.0.1:2379';
export const service = process.env.SERVICE ?? 'hello';

/** Closes a node:http server and its idle connections. */
export function closeServer(server) {
  return new Promise((resolve) => {
    server.close(resolve);
    server.closeAllConnections();
  });
}

/** Runs `stop(signal)` once on SIGINT or SIGTERM; exits 1 if it takes over 5 s. */
export function onStop(stop) {
  let stopping = false;
  const handler = (signal) => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), 5_000).unref();
    void stop(signal);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
}
