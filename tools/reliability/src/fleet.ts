import { startChild, stopChild, type Child } from './child';
import type { FaultMode, UpstreamMessage, UpstreamReport } from './protocol';

type Stats = Extract<UpstreamReport, { type: 'stats' }>;

/** An upstream running in a child process (upstream-process.ts), on a fixed port once started. */
export interface UpstreamProcess {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Whether the process is running. */
  readonly alive: boolean;
  /** Sets the fault; resolves once the process confirmed it. */
  setMode(mode: FaultMode, flapMs?: number): Promise<void>;
  /** Open connections and requests seen, from the process itself. */
  stats(): Promise<Stats>;
  /** SIGKILL: a real process exit, every socket dropped by the kernel. */
  kill(): Promise<void>;
  /** Starts the process again on the same port (after `kill`). */
  restart(): Promise<void>;
  /** Stops the process for good. */
  stop(): Promise<void>;
}

/** Starts one upstream process; `port` 0 lets the system choose, later restarts keep it. */
export async function startUpstreamProcess(name: string, port = 0): Promise<UpstreamProcess> {
  let child!: Child<UpstreamMessage, UpstreamReport>;
  let current = port;
  const spawn = async () => {
    const started = await startChild<UpstreamMessage, UpstreamReport>('upstream-process.ts', [
      name,
      String(current),
    ]);
    child = started.child;
    current = started.ready.port;
  };
  await spawn();
  return {
    name,
    get port() {
      return current;
    },
    get url() {
      return `http://127.0.0.1:${current}`;
    },
    get alive() {
      return child.alive();
    },
    async setMode(mode, flapMs) {
      await child.ask('mode', { type: 'mode', mode, flapMs });
    },
    stats: () => child.ask('stats', { type: 'stats' }),
    async kill() {
      if (!child.alive()) return;
      child.process.kill('SIGKILL');
      await child.exited;
    },
    async restart() {
      if (!child.alive()) await spawn();
    },
    stop: () => stopChild(child, { type: 'stop' }),
  };
}

/** Starts upstreams a, b, c... in parallel. */
export function startFleet(count: number): Promise<UpstreamProcess[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => startUpstreamProcess(String.fromCharCode(97 + i))),
  );
}
