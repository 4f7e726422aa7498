import { isPlainObject, type Member } from './instance';

/** `match` subsets cached at once; more distinct matches than this are rebuilt as needed. */
const MAX_SUBSETS = 64;

/** What the candidate pool reads from its balancer. */
export interface PoolHost {
  /** Every live member, in the order they joined. */
  members(): readonly Member[];
  /** Changes whenever membership or a weight changes. */
  readonly membersVersion: number;
}

/**
 * The candidates of a pick: the members of the active priority tier that the health model lets
 * serve, and their subsets for `ctx.match`. They are derived when a member joins, leaves or
 * changes state (`invalidate`), never per pick: a pick reads one cached array, the same until
 * the next change, which strategies use to key their own indexes.
 */
export class CandidatePool {
  private eligible: Member[] = [];
  private dirty = true;
  private readonly subsets = new Map<string, Member[]>();
  /** Whether members differ in priority, as of `tiersVersion` (a membersVersion). */
  private tiered = false;
  private tiersVersion = -1;

  /** `filter` keeps the members that may serve (the health model's rule, panic included). */
  constructor(
    private readonly host: PoolHost,
    private readonly filter: (members: readonly Member[]) => Member[],
    /** Announces what the filter found (a panic change) once the new pool is in place. */
    private readonly announce: () => void = () => {},
  ) {}

  /** A member joined, left, or changed state or weight: derive the candidates again. */
  invalidate(): void {
    this.dirty = true;
  }

  /** The eligible members. */
  current(): Member[] {
    // A loop: a `panic` listener called from rebuild() may change the pool again (remove an
    // instance), and that change must not be lost to the rebuild in progress. Bounded, so that
    // listeners that keep changing the pool cannot hang a pick; the next call rebuilds again.
    for (let round = 0; this.dirty && round < 4; round++) this.rebuild();
    return this.eligible;
  }

  /** The priority of the tier serving as of the latest rebuild; undefined if none served. */
  servingPriority(): number | undefined {
    return this.eligible[0]?.priority;
  }

  /** The eligible members whose zone and metadata include every pair of `match`. */
  matching(match: Readonly<Record<string, string>>): Member[] {
    if (!isPlainObject(match)) return [];
    for (const key in match) {
      const want = match[key];
      // No instance carries a non-string value; and JSON would drop it from the cache key.
      if (want !== undefined && typeof want !== 'string') return [];
    }
    const eligible = this.current();
    const key = JSON.stringify(match);
    let members = this.subsets.get(key);
    if (members === undefined) {
      members = eligible.filter((m) => m.matches(match));
      if (this.subsets.size >= MAX_SUBSETS) this.subsets.clear();
      this.subsets.set(key, members);
    }
    return members;
  }

  private rebuild(): void {
    // Cleared first, so an invalidate() from inside the filter's events stands.
    this.dirty = false;
    const members = this.host.members();
    if (this.tiersVersion !== this.host.membersVersion) {
      this.tiersVersion = this.host.membersVersion;
      const first = members[0]?.priority;
      this.tiered = members.some((m) => m.priority !== first);
    }
    this.eligible = this.filter(this.tiered ? activeTier(members) : members);
    this.subsets.clear();
    this.announce();
  }
}

/**
 * Priority tiers, as Envoy's priority levels and DNS SRV priorities: the lowest priority that
 * has a healthy (or slow-starting) instance serves alone; the others stand by. With none
 * healthy in any tier, every instance is handed over and the health model's panic rule
 * applies to all of them.
 */
function activeTier(members: readonly Member[]): readonly Member[] {
  let best = Infinity;
  for (const m of members) {
    if (m.priority < best && (m.state === 'healthy' || m.state === 'slow-start')) best = m.priority;
  }
  if (best === Infinity) return members;
  const tier: Member[] = [];
  for (const m of members) {
    if (m.priority === best) tier.push(m);
    // Consistent hashing reads `eligible` over every member.
    else m.eligible = false;
  }
  return tier;
}
