/**
 * Consistent hashing with Maglev: `ctx.key` (a user or session id) maps to the same instance as
 * long as that instance stays, and adding or removing one of n instances moves about 1/n of the
 * keys. Without a key it behaves like `power-of-two`.
 *
 * Maglev (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
 * NSDI 2016) fills a lookup table of prime size M: each instance walks its own permutation of
 * the slots (offset + j × skip, both from hashes of its id) and takes turns claiming the first
 * free one, heavier instances taking proportionally more turns. A lookup is one hash
 * and one array read. The table covers every member, healthy or not, so health changes move no
 * keys: a key whose instance is not a candidate falls through to the next slots, which belong to
 * effectively random other instances, and comes back when its instance recovers.
 *
 * M defaults to the smallest prime >= max(65 537, 100 × instances): about 200 bytes per instance,
 * and building it (only on membership or weight changes) is O(M log M).
 * Choose it for cache affinity (per-user caches, sticky sessions without cookies).
 */
import { hash32, nextPrime, reduce } from '../internal/hash';
import type { Member } from '../instance';
import { readOptions } from '../options';
import { PowerOfTwo } from './power-of-two';
import type { BuiltinContext, BuiltinStrategy, StrategyHost } from './strategy';

export interface ConsistentHashOptions {
  /** Minimum lookup table size; rounded up to a prime. Default 65 537. */
  readonly tableSize?: number;
}

/** Slots probed past the key's own before giving up on the table and choosing by load. */
const MAX_PROBES = 128;

export class ConsistentHash implements BuiltinStrategy {
  readonly name = 'consistent-hash';
  private readonly minTableSize: number;
  private readonly fallback = new PowerOfTwo();
  private table: Uint16Array | Int32Array = new Int32Array(0);
  private members: readonly Member[] = [];
  private version = -1;
  private readonly candidateSets = new WeakMap<readonly Member[], ReadonlySet<Member>>();

  constructor(
    private readonly host: StrategyHost,
    options: ConsistentHashOptions = {},
    field = 'strategy',
  ) {
    this.minTableSize = readOptions(options, field, ['tableSize'], true).integer(
      'tableSize',
      65_537,
      1,
      50_000_000,
    );
  }

  pick(candidates: readonly Member[], ctx: BuiltinContext): Member | undefined {
    const key = ctx.key;
    if (key === undefined || candidates.length === 0) return this.fallback.pick(candidates, ctx);
    if (this.version !== this.host.membersVersion) this.rebuild();
    const size = this.table.length;
    if (size === 0) return this.fallback.pick(candidates, ctx);
    let candidateSet: ReadonlySet<Member> | undefined;
    if (!ctx.isPool) {
      candidateSet = this.candidateSets.get(candidates);
      if (candidateSet === undefined)
        this.candidateSets.set(candidates, (candidateSet = new Set(candidates)));
    }
    let index = reduce(hash32(key), size);
    for (let probe = 0; probe <= MAX_PROBES; probe++) {
      const member = this.members[this.table[index]!]!;
      if (candidateSet === undefined ? member.eligible : candidateSet.has(member)) return member;
      index = index + 1 === size ? 0 : index + 1;
    }
    return this.fallback.pick(candidates, ctx);
  }

  /** The instance that owns `key` in the table, whatever its health (for tests and tooling). */
  owner(key: string): Member | undefined {
    if (this.version !== this.host.membersVersion) this.rebuild();
    if (this.table.length === 0) return undefined;
    return this.members[this.table[reduce(hash32(key), this.table.length)]!];
  }

  private rebuild(): void {
    this.members = this.host.members().slice();
    this.version = this.host.membersVersion;
    this.table = buildMaglevTable(this.members, this.minTableSize);
  }
}

/** Member indices, two bytes a slot while they fit (half the memory and cache misses), else four. */
function buildMaglevTable(members: readonly Member[], minSize: number): Uint16Array | Int32Array {
  const n = members.length;
  if (n === 0) return new Int32Array(0);
  const size = nextPrime(Math.max(minSize, 100 * n));
  const empty = n < 0xffff ? 0xffff : -1;
  const table = n < 0xffff ? new Uint16Array(size).fill(empty) : new Int32Array(size).fill(empty);
  const offset = new Float64Array(n);
  const skip = new Float64Array(n);
  const next = new Float64Array(n);
  const credit = new Float64Array(n);
  let totalWeight = 0;
  for (let i = 0; i < n; i++) {
    const id = members[i]!.id;
    offset[i] = hash32(id, 0x9e3779b9) % size;
    skip[i] = (hash32(id, 0x7f4a7c15) % (size - 1)) + 1;
    totalWeight += members[i]!.weight;
  }
  const meanWeight = totalWeight / n;
  let filled = 0;
  while (filled < size) {
    for (let i = 0; i < n && filled < size; i++) {
      // Each round an instance earns weight / mean-weight turns: about n turns a round in all, so
      // the build stays O(M) however skewed the weights (normalising by the largest weight, as
      // Envoy does, needs up to M rounds of n when one weight dwarfs the rest).
      credit[i]! += members[i]!.weight / meanWeight;
      while (credit[i]! >= 1 && filled < size) {
        credit[i]! -= 1;
        let slot: number;
        do {
          slot = (offset[i]! + next[i]! * skip[i]!) % size;
          next[i]! += 1;
        } while (table[slot] !== empty);
        table[slot] = i;
        filled += 1;
      }
    }
  }
  return table;
}
