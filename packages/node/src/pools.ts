import { Pool } from 'undici';
import { EarlyCloseCounter, watchingConnector } from './early-close';

/** Where one instance is reached: the keep-alive pool of its origin and its base path. */
export interface Target {
  readonly pool: Pool;
  /** The instance URL's path without its trailing slash (`''` for `http://host:port/`). */
  readonly base: string;
}

export interface PoolSettings {
  readonly connections: number;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Early closes in a row that make an origin an outlier (see early-close.ts); false: not watched. */
  readonly earlyCloseLimit: number | false;
}

/**
 * One undici `Pool` per instance origin, created on first use: bounded keep-alive connections,
 * undici's connect timeout, and its body timeout as the idle timeout between response chunks.
 * Instances that share an origin (different base paths) share a pool. With `earlyCloseLimit`,
 * every connection is watched for early closes, and `onClosedEarly(origin)` hears of an origin
 * that reached the limit.
 */
export class Pools {
  private readonly targets = new Map<string, Target>();
  private readonly pools = new Map<string, Pool>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly settings: PoolSettings,
    private readonly onClosedEarly: (origin: string) => void = () => {},
  ) {}

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The target of an instance URL (as core normalizes it); undefined from the moment close() is called. */
  get(url: string): Target | undefined {
    // Closing pools refuse new requests (a 502 from undici); the proxy answers 503 instead.
    if (this.closing !== undefined) return undefined;
    const known = this.targets.get(url);
    if (known !== undefined) return known;
    const parsed = new URL(url);
    let pool = this.pools.get(parsed.origin);
    if (pool === undefined) {
      const s = this.settings;
      const origin = parsed.origin;
      pool = new Pool(origin, {
        connections: s.connections,
        connectTimeout: s.connectTimeoutMs,
        connect:
          s.earlyCloseLimit === false
            ? undefined
            : watchingConnector(
                s.connectTimeoutMs,
                new EarlyCloseCounter(s.earlyCloseLimit, () => this.onClosedEarly(origin)),
              ),
        // The exchange runs its own headers timer (it also covers the wait for a free socket);
        // undici's is a backstop of the same length.
        headersTimeout: s.timeoutMs,
        bodyTimeout: s.idleTimeoutMs,
      });
      this.pools.set(origin, pool);
    }
    const path = parsed.pathname;
    const target: Target = { pool, base: path.endsWith('/') ? path.slice(0, -1) : path };
    this.targets.set(url, target);
    return target;
  }

  /** Forgets an instance; its pool closes (after its requests finish) if no other instance uses it. */
  remove(url: string): void {
    const target = this.targets.get(url);
    if (target === undefined) return;
    this.targets.delete(url);
    for (const other of this.targets.values()) if (other.pool === target.pool) return;
    for (const [origin, pool] of this.pools) {
      if (pool === target.pool) {
        this.pools.delete(origin);
        void pool.close().catch(() => {});
      }
    }
  }

  /**
   * Closes every pool, waiting for requests in flight. A pool in `connecting` (holding a health
   * probe undici cannot abort, still connecting) with no request running is destroyed instead:
   * waiting would last until its connect timeout, for requests that never reached the instance.
   */
  close(connecting: ReadonlySet<Pool> = new Set()): Promise<void> {
    this.closing ??= Promise.all(
      [...this.pools.values()].map((pool) =>
        (connecting.has(pool) && pool.stats.running === 0 ? pool.destroy() : pool.close()).catch(() => {}),
      ),
    ).then(() => {
      this.pools.clear();
      this.targets.clear();
    });
    return this.closing;
  }
}
