// `npm start`: Ballast live, with nothing to configure. Four demo upstreams with different
// behaviour behind an example gateway (the status page, /metrics), a gentle traffic generator,
// and a one-line summary per instance in the terminal, refreshed every second.
//
//   --adapter express|koa|nest   BALLAST_ADAPTER    default express
//   --strategy <name>            BALLAST_STRATEGY   default: the balancer's default (adaptive)
//   --port <n>                   PORT               default 3000; a busy port falls back to a free one
//   --rate <req/s>               DEMO_RATE          default 20
//
// Ctrl-C (or SIGTERM) stops the traffic, the gateway and the upstreams, and exits 0.
import http from 'node:http';
import process from 'node:process';

import type { InstanceConfig, StrategyName } from '@ballast/core';
import type { StatusSnapshot } from '@ballast/node';

import { envValue, lineLogger, parseFlags, startUpstream, type DemoUpstream } from '../../upstream/src';
import { liveSummary, summaryLines } from './summary';

const ADAPTERS = ['express', 'koa', 'nest'] as const;
type Adapter = (typeof ADAPTERS)[number];

interface RunningGateway {
  readonly url: string;
  close(): Promise<void>;
}
type StartGateway = (options: {
  services: Record<string, InstanceConfig[]>;
  strategy?: StrategyName;
  port?: number;
  logger?: ReturnType<typeof lineLogger>;
}) => Promise<RunningGateway>;

/** Loaded on demand (`require`, not `import`): `--adapter koa` never loads Express or Nest. */
/* eslint-disable @typescript-eslint/no-require-imports */
const GATEWAYS: Record<Adapter, () => { startGateway: StartGateway }> = {
  express: () => require('../../express-gateway/src/gateway') as { startGateway: StartGateway },
  koa: () => require('../../koa-gateway/src/gateway') as { startGateway: StartGateway },
  nest: () => require('../../nest-gateway/src/gateway') as { startGateway: StartGateway },
};
/* eslint-enable @typescript-eslint/no-require-imports */

/** The flags; a missing value or an unknown flag ends the demo with one line, not a stack trace. */
const values = parseFlags('demo', ['adapter', 'strategy', 'port', 'rate']);
const adapter = (values.adapter ?? envValue('BALLAST_ADAPTER') ?? 'express') as Adapter;
const strategy = (values.strategy ?? envValue('BALLAST_STRATEGY')) as StrategyName | undefined;
const wantedPort = Number(values.port ?? envValue('PORT') ?? 3000);
const rate = Number(values.rate ?? envValue('DEMO_RATE') ?? 20);

/** The four demo upstreams; `phoenix` dies for 10 s every 30 s. */
async function startUpstreams(): Promise<DemoUpstream[]> {
  return Promise.all([
    startUpstream({ name: 'fast', latencyMs: 5, jitterMs: 2 }),
    startUpstream({ name: 'slow', latencyMs: 120, jitterMs: 30 }),
    startUpstream({ name: 'flaky', latencyMs: 10, jitterMs: 3, errorRate: 0.3 }),
    startUpstream({ name: 'phoenix', latencyMs: 8, jitterMs: 2 }),
  ]);
}

// The live summary: redrawn in place on a terminal, printed every 5 s otherwise.
const live = liveSummary({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: process.stdout.isTTY === true,
});

async function startGateway(
  start: StartGateway,
  instances: InstanceConfig[],
): Promise<{ gateway: RunningGateway; busy: boolean }> {
  const options = {
    services: { users: instances, orders: instances },
    strategy,
    // State changes (ejections, restorations, strategy switches) print above the summary.
    logger: lineLogger('warn', (line) => live.log(line)),
  };
  try {
    return { gateway: await start({ ...options, port: wantedPort }), busy: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return { gateway: await start({ ...options, port: 0 }), busy: true };
  }
}

/** About `rate` requests a second to /users/N and /orders/N, over keep-alive connections. */
function startTraffic(url: string): { stop(): void } {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let n = 0;
  const timer = setInterval(() => {
    n += 1;
    const path = n % 3 === 0 ? `/orders/${n}` : `/users/${n}`;
    const req = http.get(`${url}${path}`, { agent }, (res) => res.resume());
    req.on('error', () => {}); // the summary shows errors; a refused request is part of the show
  }, 1000 / rate);
  return {
    stop() {
      clearInterval(timer);
      agent.destroy();
    },
  };
}

/** The gateway's status snapshot; a summary that cannot be had within a tick is skipped. */
async function fetchSnapshot(url: string): Promise<StatusSnapshot> {
  const res = await fetch(`${url}/ballast/snapshot.json`, { signal: AbortSignal.timeout(1_000) });
  return (await res.json()) as StatusSnapshot;
}

async function main(): Promise<void> {
  if (!ADAPTERS.includes(adapter))
    throw new Error(`--adapter must be one of ${ADAPTERS.join(', ')}, got "${adapter}"`);
  if (!(rate > 0 && rate <= 1000))
    throw new Error(`--rate must be between 0 and 1000 req/s, got ${String(rate)}`);
  const upstreams = await startUpstreams();
  const { gateway, busy } = await startGateway(
    GATEWAYS[adapter]().startGateway,
    upstreams.map((u) => ({ id: u.name, url: u.url })),
  );
  const phoenix = upstreams[3]!;
  const cycle = setInterval(() => void phoenix.down(10_000), 30_000);
  const traffic = startTraffic(gateway.url);

  if (busy) console.log(`Port ${wantedPort} is busy; using a free one instead.`);
  console.log(`Ballast demo: ${adapter} gateway, strategy ${strategy ?? 'adaptive (default)'}, ${rate} req/s of traffic.
${upstreams.map((u) => `  upstream ${u.name.padEnd(8)} ${u.url}`).join('\n')}
  fast answers in ~5 ms, slow in ~120 ms, flaky fails 30 % of requests, phoenix dies for 10 s every 30 s.

Gateway listening on ${gateway.url}
  status page   ${gateway.url}/ballast/
  metrics       ${gateway.url}/metrics
  try           curl ${gateway.url}/users/42

Ctrl-C stops everything.
`);

  const tty = process.stdout.isTTY;
  let ticks = 0;
  const summary = setInterval(() => {
    ticks += 1;
    if (!tty && ticks % 5 !== 0) return;
    fetchSnapshot(gateway.url).then(
      (snapshot) => live.draw(summaryLines(snapshot, 'users')),
      () => {},
    );
  }, 1_000);

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping the traffic, the gateway and the upstreams...`);
    setTimeout(() => {
      console.error('Shutdown took over 5 s; exiting anyway.');
      process.exit(1);
    }, 5_000).unref();
    clearInterval(summary);
    clearInterval(cycle);
    traffic.stop();
    await gateway.close();
    await Promise.all(upstreams.map((u) => u.close()));
    console.log('Stopped.');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: Error) => {
  console.error(`demo: ${err.message}`);
  process.exit(1);
});
