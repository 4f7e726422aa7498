// `npm start -w @ballast/example-upstream`: one demo upstream, configured by flags or environment
// variables (flags win):
//   --name NAME           NAME          shown in every answer (default "upstream")
//   --port N              PORT          default 0: a free port
//   --latency MS          LATENCY_MS    mean answer delay (default 5)
//   --jitter MS           JITTER_MS     ± uniform jitter (default 0)
//   --error-rate R        ERROR_RATE    fraction answered 503 (default 0)
//   --fail-after N        FAIL_AFTER    every request after the N-th fails, /healthz too
//   --load L              LOAD          ORCA utilization: a number in [0, 1], "inflight" or "off"
import process from 'node:process';

import { envValue, parseFlags } from './flags';
import { startUpstream, type UpstreamOptions } from './upstream';

/** The flags; a missing value or an unknown flag ends it with one line, not a stack trace. */
const values = parseFlags('upstream', [
  'name',
  'port',
  'latency',
  'jitter',
  'error-rate',
  'fail-after',
  'load',
]);
const env = process.env;
const setting = (flag: string | undefined, variable: string): string | undefined =>
  flag ?? envValue(variable, env);
const numeric = (flag: string | undefined, variable: string): number | undefined => {
  const raw = setting(flag, variable);
  return raw === undefined ? undefined : Number(raw);
};
const load = setting(values.load, 'LOAD');

const options: UpstreamOptions = {
  name: setting(values.name, 'NAME') ?? 'upstream',
  port: numeric(values.port, 'PORT') ?? 0,
  latencyMs: numeric(values.latency, 'LATENCY_MS'),
  jitterMs: numeric(values.jitter, 'JITTER_MS'),
  errorRate: numeric(values['error-rate'], 'ERROR_RATE'),
  failAfter: numeric(values['fail-after'], 'FAIL_AFTER'),
  load: load === undefined || load === 'inflight' ? 'inflight' : load === 'off' ? false : Number(load),
};
// Undefined fields take the defaults.
for (const key of Object.keys(options) as (keyof UpstreamOptions)[])
  if (options[key] === undefined) delete (options as Record<string, unknown>)[key];

startUpstream(options).then(
  (upstream) => {
    console.log(`upstream ${upstream.name} listening on ${upstream.url}`);
    const stop = (): void => {
      void upstream.close().then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  },
  (err: Error) => {
    console.error(`upstream: ${err.message}`);
    process.exit(1);
  },
);
