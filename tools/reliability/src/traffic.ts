import http from 'node:http';

/** What became of one request. */
export interface Outcome {
  readonly method: 'GET' | 'POST';
  /** The status, or 0 if the request got no complete response. */
  readonly status: number;
  /** Why there was no complete response (a client error, a truncated body, a timeout). */
  readonly error?: string;
  /** Which upstream answered (its `x-upstream` header), if one did. */
  readonly upstream?: string;
  readonly latencyMs: number;
  /** When the request was sent, ms since the traffic started. */
  readonly sentAtMs: number;
}

export interface TrafficOptions {
  readonly url: string;
  /** Requests per second; one every 1000 / rate ms, GET and POST alternating by `postEvery`. */
  readonly rate: number;
  /**
   * Every n-th request is a POST. Default 4: prime to the three instances of round-robin, so that
   * POSTs reach every instance in turn (with 3, they would all land on the same one).
   */
  readonly postEvery?: number;
  /** A request without a complete response within this time counts as lost. Default 10 000. */
  readonly timeoutMs?: number;
  /** Keep-alive connections to the gateway at most. Default 32. */
  readonly sockets?: number;
}

/** Steady mixed traffic until `stop()`; resolves with every outcome once the last one is in. */
export interface Traffic {
  readonly outcomes: Outcome[];
  /** Requests sent so far. */
  sent(): number;
  /** Stops sending, waits for every request in flight, closes the connections. */
  stop(): Promise<Outcome[]>;
}

/** Starts steady mixed GET/POST traffic through keep-alive connections. */
export function startTraffic(options: TrafficOptions): Traffic {
  // Idle sockets close after 2 s, before the gateway's 5 s keep-alive timeout: otherwise a request
  // may go out on a socket the server is closing (the client's keep-alive race, not the gateway's).
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.sockets ?? 32, timeout: 2_000 });
  const timeoutMs = options.timeoutMs ?? 10_000;
  const postEvery = options.postEvery ?? 4;
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  let count = 0;
  const periodMs = 1_000 / options.rate;
  let due = started;

  const tick = () => {
    // Catch up with the schedule: timers on a busy machine fire late, the rate must not drop.
    const now = performance.now();
    while (due <= now) {
      due += periodMs;
      count += 1;
      const method = count % postEvery === 0 ? 'POST' : 'GET';
      const p = send(method, count).then((outcome) => {
        outcomes.push(outcome);
        pending.delete(p);
      });
      pending.add(p);
    }
  };
  const timer = setInterval(tick, Math.max(1, Math.floor(periodMs)));

  function send(method: 'GET' | 'POST', n: number): Promise<Outcome> {
    const sentAt = performance.now();
    const sentAtMs = sentAt - started;
    return new Promise((resolve) => {
      let settled = false;
      const done = (status: number, error?: string, upstream?: string) => {
        if (settled) return;
        settled = true;
        resolve({ method, status, error, upstream, latencyMs: performance.now() - sentAt, sentAtMs });
      };
      const body = method === 'POST' ? JSON.stringify({ order: n }) : undefined;
      const req = http.request(
        `${options.url}/items/${n}`,
        {
          method,
          agent,
          timeout: timeoutMs,
          headers:
            body === undefined ? {} : { 'content-type': 'application/json', 'content-length': body.length },
        },
        (res) => {
          let bytes = 0;
          res.on('data', (chunk: Buffer) => (bytes += chunk.length));
          res.on('end', () => {
            const announced = Number(res.headers['content-length'] ?? bytes);
            if (bytes !== announced) done(0, `truncated body: ${bytes} of ${announced} bytes`);
            else done(res.statusCode ?? 0, undefined, res.headers['x-upstream'] as string | undefined);
          });
          res.on('error', (error) => done(0, `response: ${error.message}`));
          res.on('aborted', () => done(0, 'response aborted'));
        },
      );
      req.on('timeout', () => {
        done(0, `no response within ${timeoutMs} ms`);
        req.destroy();
      });
      req.on('error', (error) => done(0, error.message));
      req.end(body);
    });
  }

  return {
    outcomes,
    sent: () => count,
    async stop() {
      clearInterval(timer);
      while (pending.size > 0) await Promise.all(pending);
      agent.destroy();
      return outcomes;
    },
  };
}

/** Counts of a run's outcomes, by method and result. */
export interface Tally {
  readonly sent: number;
  readonly get: { readonly sent: number; readonly ok: number; readonly failed: number };
  readonly post: { readonly sent: number; readonly ok: number; readonly failed: number };
  /** Requests with no complete response at all (none expected). */
  readonly lost: number;
  /** Status counts of responses that were not 2xx. */
  readonly errorStatuses: Readonly<Record<string, number>>;
  readonly errors: readonly string[];
}

export function tally(outcomes: readonly Outcome[]): Tally {
  const count = (method: 'GET' | 'POST') => {
    const mine = outcomes.filter((o) => o.method === method);
    const ok = mine.filter((o) => o.status >= 200 && o.status < 300).length;
    return { sent: mine.length, ok, failed: mine.length - ok };
  };
  const errorStatuses: Record<string, number> = {};
  for (const o of outcomes) {
    if (o.status !== 0 && (o.status < 200 || o.status >= 300))
      errorStatuses[o.status] = (errorStatuses[o.status] ?? 0) + 1;
  }
  const lost = outcomes.filter((o) => o.status === 0);
  return {
    sent: outcomes.length,
    get: count('GET'),
    post: count('POST'),
    lost: lost.length,
    errorStatuses,
    errors: [...new Set(lost.map((o) => `${o.method} ${o.error}`))],
  };
}

/** The p-th percentile (0 to 100) of `values`, by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
