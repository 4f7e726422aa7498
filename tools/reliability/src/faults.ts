import type { UpstreamProcess } from './fleet';

/** One fault of issue 9: how to inject it into an upstream and how to end it. */
export interface Fault {
  readonly name: string;
  readonly description: string;
  inject(upstream: UpstreamProcess): Promise<void>;
  heal(upstream: UpstreamProcess): Promise<void>;
}

const mode = (
  name: Fault['name'],
  description: string,
  value: Parameters<UpstreamProcess['setMode']>[0],
  flapMs?: number,
): Fault => ({
  name,
  description,
  inject: (u) => u.setMode(value, flapMs),
  heal: (u) => u.setMode('normal'),
});

/** The six faults, in the order the issue lists them. */
export const FAULTS: readonly Fault[] = [
  {
    name: 'killed',
    description: 'the process is killed (SIGKILL), then started again on the same port',
    inject: (u) => u.kill(),
    heal: (u) => u.restart(),
  },
  mode('hang', 'accepts connections and reads requests, never answers', 'hang'),
  mode('slow', 'answers 5x slower than the others', 'slow'),
  mode('flap', 'alternates between 503 and 200 every second', 'flap', 1_000),
  mode('reset', 'sends the head and half the body, then resets the connection', 'reset'),
  mode('close-early', 'closes keep-alive connections 0-2 ms after each response', 'close-early'),
];
