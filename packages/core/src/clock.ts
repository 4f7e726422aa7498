/** A monotonic clock in milliseconds. Strategies and the health model read time only through it. */
export type Clock = () => number;

/** The default clock: `performance.now()`, monotonic and unaffected by wall-clock changes. */
export const defaultClock: Clock = () => performance.now();
