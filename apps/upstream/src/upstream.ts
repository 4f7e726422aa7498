import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How a demo upstream behaves; every field can be changed while it runs with `configure()`. */
export interface UpstreamBehaviour {
  /** Mean delay before each answer, ms. Default 5. */
  readonly latencyMs: number;
  /** Uniform jitter added to the delay, ± ms. Default 0. */
  readonly jitterMs: number;
  /** Fraction of requests answered 503, in [0, 1]. Default 0. */
  readonly errorRate: number;
  /** After this many requests every request (and `/healthz`) fails with 503. Default: never. */
  readonly failAfter: number;
  /**
   * Utilization reported in the ORCA `endpoint-load-metrics` header: a fixed value in [0, 1],
   * `'inflight'` for in-flight requests divided by `capacity`, or `false` for no header.
   * Default `'inflight'`.
   */
  readonly load: number | 'inflight' | false;
  /** Requests this upstream serves at full utilization, for `load: 'inflight'`. Default 50. */
  readonly capacity: number;
}

export interface UpstreamOptions extends Partial<UpstreamBehaviour> {
  /** Shown in every answer; default `upstream`. */
  readonly name?: string;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: a free port. */
  readonly port?: number;
  /** Uniform [0, 1) source for errors and jitter. Default `Math.random`. */
  readonly random?: () => number;
}

/** A running demo upstream. */
export interface DemoUpstream {
  readonly name: string;
  /** `http://<host>:<port>`; the port stays the same across `down()`. */
  readonly url: string;
  /** Requests answered so far, `/healthz` excluded. */
  served(): number;
  /** Requests being answered right now. */
  inflight(): number;
  behaviour(): UpstreamBehaviour;
  /** Changes the behaviour while it runs (and resets the `failAfter` count when given). */
  configure(patch: Partial<UpstreamBehaviour>): void;
  /** Whether it is listening (false while `down()`). */
  isUp(): boolean;
  /**
   * Stops like a crashed process (the listener closes and every connection is destroyed) and
   * comes back on the same port after `ms`.
   */
  down(ms: number): Promise<void>;
  close(): Promise<void>;
}

const DEFAULTS: UpstreamBehaviour = {
  latencyMs: 5,
  jitterMs: 0,
  errorRate: 0,
  failAfter: Infinity,
  load: 'inflight',
  capacity: 50,
};

/** Checks a behaviour, naming the field that is wrong. */
export function checkBehaviour(behaviour: UpstreamBehaviour): UpstreamBehaviour {
  const nonNegative = (field: keyof UpstreamBehaviour, value: number): void => {
    if (!(value >= 0)) throw new RangeError(`${field} must be a number >= 0, got ${String(value)}`);
  };
  nonNegative('latencyMs', behaviour.latencyMs);
  nonNegative('jitterMs', behaviour.jitterMs);
  nonNegative('failAfter', behaviour.failAfter);
  if (!(behaviour.errorRate >= 0 && behaviour.errorRate <= 1))
    throw new RangeError(`errorRate must be in [0, 1], got ${String(behaviour.errorRate)}`);
  if (!(behaviour.capacity > 0))
    throw new RangeError(`capacity must be > 0, got ${String(behaviour.capacity)}`);
  const { load } = behaviour;
  if (load !== false && load !== 'inflight' && !(typeof load === 'number' && load >= 0 && load <= 1))
    throw new RangeError(`load must be a number in [0, 1], 'inflight' or false, got ${String(load)}`);
  return behaviour;
}

/**
 * Starts a demo upstream: `GET /healthz` answers `ok` while it is healthy; every other request
 * answers JSON naming the upstream, after the configured latency, or 503 as configured.
 */
export async function startUpstream(options: UpstreamOptions = {}): Promise<DemoUpstream> {
  const { name = 'upstream', host = '127.0.0.1', port = 0, random = Math.random, ...rest } = options;
  let behaviour = checkBehaviour({ ...DEFAULTS, ...rest });
  let served = 0;
  let inflight = 0;
  let up = false;
  const timers = new Set<NodeJS.Timeout>();

  const failing = (): boolean => served >= behaviour.failAfter;

  const loadHeader = (): string | undefined => {
    const { load, capacity } = behaviour;
    if (load === false) return undefined;
    const value = load === 'inflight' ? Math.min(1, inflight / capacity) : load;
    return `TEXT cpu_utilization=${value.toFixed(3)}`;
  };

  const answer = (res: ServerResponse, status: number, body: object): void => {
    const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json' };
    const load = loadHeader();
    if (load !== undefined) headers['endpoint-load-metrics'] = load;
    res.writeHead(status, headers).end(`${JSON.stringify(body)}\n`);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    req.resume();
    const path = req.url ?? '/';
    if (path === '/healthz') {
      res
        .writeHead(failing() ? 503 : 200, { 'content-type': 'text/plain' })
        .end(failing() ? 'failing\n' : 'ok\n');
      return;
    }
    const fail = failing() || random() < behaviour.errorRate;
    served += 1;
    inflight += 1;
    const { latencyMs, jitterMs } = behaviour;
    const delay = jitterMs > 0 ? Math.max(0, latencyMs + (random() * 2 - 1) * jitterMs) : latencyMs;
    const timer = setTimeout(() => {
      timers.delete(timer);
      inflight -= 1;
      if (fail) answer(res, 503, { upstream: name, error: 'injected failure' });
      else answer(res, 200, { upstream: name, method: req.method, path, latencyMs: Math.round(delay) });
    }, delay);
    timers.add(timer);
    res.once('close', () => {
      if (!timers.delete(timer)) return;
      clearTimeout(timer);
      inflight -= 1;
    });
  };

  const server = http.createServer(handle);
  const listen = (wanted: number): Promise<number> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(wanted, host, () => {
        server.off('error', reject);
        up = true;
        resolve((server.address() as AddressInfo).port);
      });
    });
  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      up = false;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      inflight = 0;
      server.close(() => resolve());
      server.closeAllConnections();
    });

  const actualPort = await listen(port);
  let closed = false;
  /** While `down()`: ends the pause early (close() calls it). */
  let wake: (() => void) | undefined;

  return {
    name,
    url: `http://${host}:${actualPort}`,
    served: () => served,
    inflight: () => inflight,
    behaviour: () => behaviour,
    configure(patch) {
      behaviour = checkBehaviour({ ...behaviour, ...patch });
      if (patch.failAfter !== undefined) served = 0;
    },
    isUp: () => up,
    async down(ms) {
      if (!up || closed) return;
      await stop();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
      if (!closed) await listen(actualPort);
    },
    async close() {
      closed = true;
      wake?.();
      if (up) await stop();
    },
  };
}
