import type { Balancer, Lease } from '@ballast/core';

/** The state of a churn test: a balancer whose instances come, go and change while it serves. */
export interface Churn {
  readonly balancer: Balancer;
  readonly random: () => number;
  /** The ids instances are added under (again and again). */
  readonly ids: readonly string[];
  /** The metadata key `update()` changes (a label, with `metadataLabels`). */
  readonly label: string;
  readonly leases: Lease[];
  readonly log: string[];
}

/**
 * One step of churn for a draw `r` in [0, 1) on instance `id`: below 0.55, an add, a removal
 * (leases in flight drain), a metadata update or a pick; returns false above, where the caller
 * releases a lease or scrapes.
 */
export function churnStep(c: Churn, r: number, id: string): boolean {
  const b = c.balancer;
  if (r < 0.12) {
    if (b.get(id) === undefined) {
      b.add({
        id,
        url: `http://10.0.0.${c.ids.indexOf(id) + 1}:3000`,
        metadata: { [c.label]: c.random() < 0.5 ? 'x' : 'y' },
      });
      c.log.push(`add ${id}`);
    }
  } else if (r < 0.22) {
    if (b.remove(id)) c.log.push(`remove ${id}`);
  } else if (r < 0.28) {
    if (b.get(id) !== undefined) {
      b.update(id, { metadata: { [c.label]: c.random() < 0.5 ? 'x' : 'y' } });
      c.log.push(`update ${id} ${b.get(id)!.metadata[c.label]}`);
    }
  } else if (r < 0.55) {
    try {
      c.leases.push(b.pick());
      c.log.push(`pick ${c.leases[c.leases.length - 1]!.instance.id}`);
    } catch {
      // an empty pool
    }
  } else {
    return false;
  }
  return true;
}
