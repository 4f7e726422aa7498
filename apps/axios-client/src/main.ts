// A worker calling a balanced service with @ballast/axios: `npm start -w @ballast/example-axios-client`.
// Every 100 ms it asks the `users` service for a user and, once a second, prints what it saw:
// answers per instance, errors, and each instance's state. Ejections and restorations print as
// they happen.
//
//   USERS_INSTANCES   comma-separated URLs; unset: three local demo upstreams, one of which
//                     (users-3) dies for 6 s every 15 s, to show the failover
//   --count N         stop after N requests (default: run until Ctrl-C)
import process from 'node:process';

import { balancerOf, withBalancer } from '@ballast/axios';
import axios, { isAxiosError } from 'axios';

import { parseFlags, servicesFromEnv } from '../../upstream/src';

/** A missing value, an unknown flag or a count that is not a positive integer: one line, exit 1. */
const values = parseFlags('axios-client', ['count']);
const limit = values.count === undefined ? Infinity : Number(values.count);
if (!(Number.isSafeInteger(limit) && limit > 0) && limit !== Infinity) {
  console.error(`axios-client: --count must be a positive integer, got "${values.count}"`);
  process.exit(1);
}

async function main(): Promise<void> {
  const { services, started } = await servicesFromEnv(['users'], process.env, 3);
  const users = withBalancer(axios.create({ timeout: 2_000 }), {
    service: 'users',
    instances: services.users!,
    // Quick reactions for a demo: three failures in a row eject. With the default five, the
    // adaptive strategy may switch to peak-EWMA first, which then routes around the dead
    // instance without ever failing on it five times: no errors, but no ejection to show either.
    health: { outlier: { consecutiveFailures: 3, intervalMs: 1_000, baseEjectionMs: 5_000 } },
  });
  const balancer = balancerOf(users)!;
  balancer.on('eject', (e) => console.log(`  ! ${e.instance.id} ejected (${e.reason})`));
  balancer.on('restore', (e) => console.log(`  + ${e.instance.id} back (${e.reason})`));
  for (const upstream of started) console.log(`demo upstream ${upstream.name} on ${upstream.url}`);
  const phoenix = started[2];
  const cycle = phoenix && setInterval(() => void phoenix.down(6_000), 15_000);

  let sent = 0;
  let errors = 0;
  const answeredBy = new Map<string, number>();
  const second = setInterval(() => {
    const seen = [...answeredBy].map(([name, n]) => `${name}:${n}`).join(' ') || '-';
    const states = balancer
      .instances()
      .map((i) => `${i.id.replace('http://127.0.0.1:', ':')} ${i.state}`)
      .join(', ');
    console.log(`${String(sent).padStart(5)} sent  answered by ${seen}  errors ${errors}  [${states}]`);
    answeredBy.clear();
  }, 1_000);

  const finish = async (): Promise<void> => {
    clearInterval(second);
    if (cycle) clearInterval(cycle);
    clearInterval(ticker);
    await Promise.all(inflight);
    balancer.close();
    await Promise.all(started.map((u) => u.close()));
    console.log(`done: ${sent} requests, ${errors} errors`);
    process.exit(0);
  };
  const inflight = new Set<Promise<void>>();
  const ticker = setInterval(() => {
    if (sent >= limit) {
      void finish();
      return;
    }
    sent += 1;
    const call = users.get<{ upstream?: string; name?: string }>(`/users/${sent}`).then(
      ({ data }) => {
        const name = data.upstream ?? data.name ?? '?';
        answeredBy.set(name, (answeredBy.get(name) ?? 0) + 1);
      },
      (err: unknown) => {
        errors += 1;
        console.log(`  x request ${sent}: ${isAxiosError(err) ? (err.code ?? err.message) : String(err)}`);
      },
    );
    const tracked = call.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  }, 100);
  process.once('SIGINT', () => void finish());
  process.once('SIGTERM', () => void finish());
}

main().catch((err: Error) => {
  console.error(`axios-client: ${err.message}`);
  process.exit(1);
});
