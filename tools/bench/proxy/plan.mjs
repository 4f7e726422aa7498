// What the proxy benchmark runs and the targets it checks (from the issue). Imports nothing, so
// the parent reads it before anything is installed or built.

/**
 * The contenders, in table order. `kind` says how a contender runs: `direct` is the load
 * generator on one upstream (no proxy: the limit), `node` a child process running
 * contender.mjs, `nginx` and `haproxy` the system binaries with a generated configuration.
 * `package` names the workspace package a Ballast row needs (its row is skipped without it).
 * `optional` rows are diagnostics, run only when `--only` names them.
 */
export const CONTENDERS = [
  { id: 'direct', label: 'direct to one upstream (the limit)', kind: 'direct' },
  { id: 'nginx', label: 'nginx', kind: 'nginx' },
  { id: 'haproxy', label: 'HAProxy', kind: 'haproxy' },
  { id: 'undici', label: 'node:http + undici BalancedPool (baseline)', kind: 'node' },
  { id: 'ballast-node', label: 'Ballast `@ballast/node` handler', kind: 'node', package: 'node' },
  { id: 'express-undici', label: 'Express 5 + the minimal undici handler', kind: 'node' },
  { id: 'ballast-express', label: 'Ballast `@ballast/express`', kind: 'node', package: 'express' },
  { id: 'express-hpm', label: 'Express 5 + http-proxy-middleware 3', kind: 'node' },
  { id: 'ballast-koa', label: 'Ballast `@ballast/koa`', kind: 'node', package: 'koa' },
  {
    id: 'koa-undici',
    label: 'Koa 3 + the minimal undici handler (`ctx.respond = false`)',
    kind: 'node',
    optional: true,
  },
];

/** Every ratio column is relative to one of these, measured in the same round. */
export const DIRECT = 'direct';
export const BASELINE = 'undici';

/** The two loads of the issue: a small GET, and a 64 KiB POST answered with a small body. */
export const METHODS = [
  { id: 'GET', label: 'GET (small response)', bodyBytes: 0 },
  { id: 'POST', label: 'POST 64 KiB (small response)', bodyBytes: 64 * 1024 },
];

/** Upstream servers behind every proxy (all in one child process). */
export const UPSTREAMS = 3;

/**
 * Load settings. The same wrk command for every row: one thread, 32 keep-alive connections. On
 * 2 cores the load generator, the proxy and the upstreams share the CPUs, so the load is a
 * closed loop and the figures are relative by nature.
 *
 * A full run: one warm-up load per contender and method, then `rounds` rounds in which every
 * contender takes every load once, in an order rotated each round. Many short rounds rather than
 * a few long ones: a ratio pairs two loads of the same round, and the machine's speed drifts less
 * over a shorter round. About 4.5 minutes with every row present, up to 5 when the machine is busy
 * (see DISTURBED).
 */
export const FULL = { rounds: 6, warmupSeconds: 1, loadSeconds: 2, threads: 1, connections: 32 };
export const QUICK = { rounds: 2, warmupSeconds: 1, loadSeconds: 1, threads: 1, connections: 32 };

/**
 * The cores are shared with other users, whose bursts (a test run, a build) slow whatever load is
 * running by up to 2×. Each load measures what the rest of the machine took meanwhile: the CPU
 * time other processes used (from /proc/stat, less this run's own processes) plus the time the
 * hypervisor stole. A load during which that exceeded `cores` is measured again, up to
 * `retriesPerLoad` times, keeping the quietest attempt, within a budget of `retryShare` of the
 * planned loads so that a busy machine cannot stretch a run without bound.
 */
export const DISTURBED = { cores: 0.15, retriesPerLoad: 2, retryShare: 0.1, pauseMs: 500 };

/**
 * Targets of the issue. Each compares two contenders' req/s in the same round (the median of
 * the round-by-round ratios) against `atLeast`.
 */
export const TARGETS = [
  {
    method: 'GET',
    contender: 'ballast-node',
    reference: 'undici',
    atLeast: 0.9,
    text: 'plain handler ≥ 0.9× the undici BalancedPool baseline',
  },
  {
    method: 'GET',
    contender: 'ballast-express',
    reference: 'express-undici',
    atLeast: 0.9,
    text: 'Express adapter ≥ 0.9× Express with the minimal undici handler',
  },
  {
    method: 'GET',
    contender: 'ballast-koa',
    reference: 'ballast-node',
    atLeast: 0.8,
    text: 'Koa adapter ≥ 0.8× the plain handler',
  },
  {
    method: 'POST',
    contender: 'ballast-node',
    reference: 'undici',
    atLeast: 1.0,
    text: '64 KiB POST: plain handler no slower than the baseline',
  },
];
