import diagnostics from 'node:diagnostics_channel';
import type { Balancer, BalancerEvents } from '@ballast/core';

/**
 * Names of the `node:diagnostics_channel` channels on which @ballast/node publishes the events
 * of every balancer it proxies for or health-checks, as undici publishes `undici:request:create`:
 * APM tools subscribe by name, with no configuration and no import of Ballast.
 *
 * - `ballast:pick`: the `pick` event, `{ service, lease }`.
 * - `ballast:release`: the `release` event, `{ service, instance, outcome, latencyMs }`.
 * - `ballast:instance`: instance changes, `{ event, service, instance, ... }` where `event` is
 *   `instance-added`, `instance-removed`, `instance-updated`, `health-change`, `eject` or
 *   `restore` and the rest is that event's payload (see {@link DiagnosticsInstanceMessage}).
 *
 * @example
 * ```ts
 * import diagnostics from 'node:diagnostics_channel';
 * diagnostics.subscribe('ballast:instance', (message) => logger.info(message, 'ballast instance event'));
 * ```
 */
export const DIAGNOSTICS_CHANNELS = {
  pick: 'ballast:pick',
  release: 'ballast:release',
  instance: 'ballast:instance',
} as const;

const INSTANCE_EVENTS = [
  'instance-added',
  'instance-removed',
  'instance-updated',
  'health-change',
  'eject',
  'restore',
] as const;

/** The instance events published on `ballast:instance`. */
export type DiagnosticsInstanceEvent = (typeof INSTANCE_EVENTS)[number];

/** A message on `ballast:instance`: the event's name under `event`, then its payload. */
export type DiagnosticsInstanceMessage = {
  [E in DiagnosticsInstanceEvent]: { readonly event: E } & BalancerEvents[E];
}[DiagnosticsInstanceEvent];

const pickChannel = diagnostics.channel(DIAGNOSTICS_CHANNELS.pick);
const releaseChannel = diagnostics.channel(DIAGNOSTICS_CHANNELS.release);
const instanceChannel = diagnostics.channel(DIAGNOSTICS_CHANNELS.instance);

const publishPick = (event: BalancerEvents['pick']): void => pickChannel.publish(event);
const publishRelease = (event: BalancerEvents['release']): void => releaseChannel.publish(event);

/**
 * Publishes one balancer's events, shared by every proxy and checker of that balancer so that
 * none is published twice. Instance events are rare: their listeners stay attached and publish
 * only when someone subscribes. `pick` and `release` happen on every request: their listeners are
 * attached only while their channel has subscribers, which `sync()` (called once per proxied
 * request and per health probe) checks with two field reads, so an unobserved balancer builds
 * no per-request event payload.
 */
export class DiagnosticsPublisher {
  private refs = 0;
  private pickOn = false;
  private releaseOn = false;
  private readonly instanceListeners = INSTANCE_EVENTS.map(
    (event) =>
      [
        event,
        (payload: BalancerEvents[DiagnosticsInstanceEvent]): void => {
          if (instanceChannel.hasSubscribers) instanceChannel.publish({ event, ...payload });
        },
      ] as const,
  );

  constructor(private readonly balancer: Balancer) {}

  /** Attaches the listeners for one more user of the balancer. */
  acquire(): void {
    if (this.refs++ > 0) return;
    for (const [event, listener] of this.instanceListeners) this.balancer.on(event, listener);
    this.sync();
  }

  /** Detaches them when the last user is done. */
  release(): void {
    if (this.refs === 0 || --this.refs > 0) return;
    for (const [event, listener] of this.instanceListeners) this.balancer.off(event, listener);
    this.follow(false, false);
    publishers.delete(this.balancer);
  }

  /** Follows the subscribers of `ballast:pick` and `ballast:release`. */
  sync(): void {
    if (pickChannel.hasSubscribers !== this.pickOn || releaseChannel.hasSubscribers !== this.releaseOn)
      this.follow(pickChannel.hasSubscribers, releaseChannel.hasSubscribers);
  }

  private follow(pick: boolean, release: boolean): void {
    if (pick !== this.pickOn) {
      if (pick) this.balancer.on('pick', publishPick);
      else this.balancer.off('pick', publishPick);
      this.pickOn = pick;
    }
    if (release !== this.releaseOn) {
      if (release) this.balancer.on('release', publishRelease);
      else this.balancer.off('release', publishRelease);
      this.releaseOn = release;
    }
  }
}

const publishers = new WeakMap<Balancer, DiagnosticsPublisher>();

/**
 * The publisher of `balancer`'s events, acquired once more; call its `release()` when done.
 * One publisher per balancer, however many proxies and checkers use it.
 */
export function acquireDiagnostics(balancer: Balancer): DiagnosticsPublisher {
  let publisher = publishers.get(balancer);
  if (publisher === undefined) {
    publisher = new DiagnosticsPublisher(balancer);
    publishers.set(balancer, publisher);
  }
  publisher.acquire();
  return publisher;
}
