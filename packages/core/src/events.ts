import type { BalancerEventName, BalancerEvents, Listener, Logger } from './types';

type AnyListener = (event: never) => void;

/**
 * A minimal typed event channel. Listeners run synchronously in the order they were added; one
 * that throws is reported to the logger and never reaches the code that emitted (a listener must
 * not be able to break a pick). `has()` lets hot paths skip building a payload nobody reads.
 */
export class Events {
  private readonly listeners = new Map<BalancerEventName, AnyListener[]>();

  constructor(private readonly logger: Logger) {}

  on<E extends BalancerEventName>(event: E, listener: Listener<E>): void {
    const list = this.listeners.get(event);
    // Copy on write: an emit in progress keeps iterating the array it started with.
    this.listeners.set(event, list ? [...list, listener] : [listener]);
  }

  off<E extends BalancerEventName>(event: E, listener: Listener<E>): void {
    const list = this.listeners.get(event);
    if (!list) return;
    const index = list.indexOf(listener);
    if (index < 0) return;
    const next = list.slice();
    next.splice(index, 1);
    if (next.length === 0) this.listeners.delete(event);
    else this.listeners.set(event, next);
  }

  has(event: BalancerEventName): boolean {
    return this.listeners.has(event);
  }

  /**
   * The listeners of `event` right now, or undefined if none: a hot path keeps the array (never
   * mutated: `on` and `off` replace it) and calls them through `call`, saving the map lookup.
   */
  current<E extends BalancerEventName>(event: E): readonly Listener<E>[] | undefined {
    return this.listeners.get(event) as Listener<E>[] | undefined;
  }

  /** Calls each listener with `payload`, isolating failures as `emit` does. */
  call<E extends BalancerEventName>(
    event: E,
    list: readonly Listener<E>[],
    payload: BalancerEvents[E],
  ): void {
    for (let i = 0; i < list.length; i++) {
      try {
        list[i]!(payload);
      } catch (error) {
        this.logger.error({ err: error, event }, 'ballast: event listener threw; ignored');
      }
    }
  }

  emit<E extends BalancerEventName>(event: E, payload: BalancerEvents[E]): void {
    const list = this.listeners.get(event) as Listener<E>[] | undefined;
    if (!list) return;
    for (const listener of list) {
      try {
        listener(payload);
      } catch (error) {
        this.logger.error({ err: error, event }, 'ballast: event listener threw; ignored');
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** A logger that discards everything: Ballast is silent unless given one. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
