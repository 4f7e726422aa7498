/**
 * The contenders: every built-in strategy that the core constructs today, plus, for the
 * failing-instance scenario, an oracle to measure the health model against.
 */
import {
  createBalancer,
  seededRandom,
  STRATEGY_NAMES,
  type Instance,
  type Strategy,
  type StrategyName,
  type StrategyOption,
} from '@ballast/core';

export interface Contender {
  /** Row label in the report. */
  readonly label: string;
  readonly option: StrategyOption;
  /** Picks carry a random affinity key. */
  readonly keyed: boolean;
  /** A reference, not a strategy users can choose: left out of "best fixed strategy". */
  readonly reference: boolean;
}

export interface Lineup {
  readonly contenders: readonly Contender[];
  /** Built-ins the core does not construct yet, with its reason. */
  readonly unavailable: readonly { readonly name: StrategyName; readonly reason: string }[];
}

/** Every name in `STRATEGY_NAMES` that `createBalancer` accepts today. */
export function lineup(): Lineup {
  const contenders: Contender[] = [];
  const unavailable: { name: StrategyName; reason: string }[] = [];
  for (const name of STRATEGY_NAMES) {
    try {
      createBalancer({
        strategy: name,
        instances: ['http://10.0.0.1:8080'],
        clock: () => 0,
        random: seededRandom(1),
      }).close();
      contenders.push({ label: name, option: name, keyed: name === 'consistent-hash', reference: false });
    } catch (error) {
      unavailable.push({ name, reason: error instanceof Error ? error.message : String(error) });
    }
  }
  return { contenders, unavailable };
}

/**
 * A perfect oracle for one failing instance: it knows which instance is bad and never sends to
 * it after its first failure has been released; otherwise it is the power of two choices on
 * in-flight per weight, like the default strategy. Its error count is the floor a passive health
 * model can hope for: the first failure plus whatever was already in flight to the instance.
 */
export function oracle(failingId: string): Contender {
  const kept: Instance[] = [];
  const strategy: Strategy = {
    name: 'oracle',
    pick(candidates, ctx) {
      kept.length = 0;
      for (const c of candidates) if (c.id !== failingId || c.failures === 0) kept.push(c);
      const pool = kept.length > 0 ? kept : candidates;
      const n = pool.length;
      if (n < 2) return pool[0];
      const i = Math.min(n - 1, Math.floor(ctx.random() * n));
      let j = Math.min(n - 2, Math.floor(ctx.random() * (n - 1)));
      if (j >= i) j += 1;
      const a = pool[i]!;
      const b = pool[j]!;
      return (b.inflight + 1) / b.weight < (a.inflight + 1) / a.weight ? b : a;
    },
  };
  return { label: 'oracle', option: strategy, keyed: false, reference: true };
}
