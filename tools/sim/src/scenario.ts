/**
 * What a scenario describes: a Poisson workload and the servers behind the balancer. Behaviour
 * that changes over time (flapping, a phase change, a cold instance warming up) is a function of
 * virtual time, read when a request starts service.
 */
import type { SizeDistribution } from './distributions';

/** How a server behaves at one moment. */
export interface Behaviour {
  /** Service time multiplier (1 = nominal, 5 = five times slower). */
  readonly slowdown: number;
  /** Probability that a request fails fast instead of being served. */
  readonly errorRate: number;
}

export const NOMINAL: Behaviour = Object.freeze({ slowdown: 1, errorRate: 0 });

/** One upstream server. */
export interface ServerSpec {
  /** Instance id in the balancer, and the column name in the report. */
  readonly id: string;
  /** Weight given to the balancer. Default 1. */
  readonly weight?: number;
  /** Requests served at once; more wait in a FIFO queue at the server. */
  readonly concurrency: number;
  /** Mean service time at slowdown 1, ms. */
  readonly serviceMs: number;
  /** Time a fast failure takes, ms. Default 1. */
  readonly failMs?: number;
  /** Behaviour as a function of virtual time (ms). Default: always nominal. */
  readonly behaviour?: (nowMs: number) => Behaviour;
  /** Joins the pool through `balancer.add()` at this time (ms); absent = there from the start. */
  readonly joinAtMs?: number;
  /** Short note for the report's column header ("slow", "fails 50 %"...). */
  readonly role?: string;
}

/** A named window of the run whose latency is reported on its own. */
export interface Phase {
  readonly label: string;
  readonly fromMs: number;
  readonly toMs: number;
}

export interface Scenario {
  /** Kebab-case identifier, used by `--scenario` and in anchors. */
  readonly name: string;
  readonly title: string;
  /** One paragraph for the report: what happens and why the numbers are what they are. */
  readonly description: string;
  /** Arrivals stop at this time (ms); requests in flight then run to completion. */
  readonly durationMs: number;
  /** Arrival rate at a time, requests per second. */
  readonly ratePerSec: (nowMs: number) => number;
  /** An upper bound of `ratePerSec` over the run (for thinning). */
  readonly maxRatePerSec: number;
  readonly sizes: SizeDistribution;
  readonly servers: readonly ServerSpec[];
  /** Seed of the workload and of the balancer's `random`. */
  readonly seed: number;
  /**
   * Independent runs (seeds `seed`, `seed + 1 000 000`, ...) pooled into one result, so that a
   * verdict does not hang on one seed's luck. Default 1.
   */
  readonly replications?: number;
  /** Track the share of the instance that joins, in `subWindows` slices of `windowMs`. */
  readonly join?: { readonly id: string; readonly windowMs: number; readonly subWindows: number };
  /** Id of the failing instance: adds the oracle strategy, which avoids it after its first failure. */
  readonly oracleAvoids?: string;
  /** Windows whose p99 is reported separately. */
  readonly phases?: readonly Phase[];
}
