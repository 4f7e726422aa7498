import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** Runs TypeScript straight from source in the child, as `npm run sim` does. */
const REGISTER = path.join(__dirname, '..', '..', 'sim', 'register.cjs');
const START_TIMEOUT_MS = 20_000;

/** A forked script that talks over IPC with typed messages, each report type awaited by name. */
export interface Child<Message, Report extends { type: string }> {
  readonly process: ChildProcess;
  /** Resolves once the process exited. */
  readonly exited: Promise<void>;
  alive(): boolean;
  /** Sends `message` (if any) and resolves with the next report of `type`. */
  ask<T extends Report['type']>(type: T, message?: Message): Promise<Extract<Report, { type: T }>>;
  /** Every report, as it comes. */
  onReport(listener: (report: Report) => void): void;
}

/**
 * Forks `script` (a .ts file of this folder) with `args`, and resolves once it sent its `ready`
 * report; rejects if it exits first or is not ready within 20 s.
 */
export async function startChild<Message, Report extends { type: string }>(
  script: string,
  args: readonly string[],
  execArgv: readonly string[] = [],
): Promise<{ child: Child<Message, Report>; ready: Extract<Report, { type: 'ready' }> }> {
  const proc = fork(path.join(__dirname, script), args, {
    execArgv: [...execArgv, '-r', REGISTER],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const waiting = new Map<string, (report: Report) => void>();
  const listeners: ((report: Report) => void)[] = [];
  proc.on('message', (report: Report) => {
    const resolve = waiting.get(report.type);
    waiting.delete(report.type);
    resolve?.(report);
    for (const listener of listeners) listener(report);
  });
  const child: Child<Message, Report> = {
    process: proc,
    exited,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    ask<T extends Report['type']>(type: T, message?: Message) {
      const reply = new Promise<Extract<Report, { type: T }>>((resolve) =>
        waiting.set(type, resolve as (report: Report) => void),
      );
      if (message !== undefined) proc.send(message as object);
      return reply;
    },
    onReport: (listener) => listeners.push(listener),
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const ready = await Promise.race([
      child.ask('ready' as Report['type']),
      exited.then(() => {
        throw new Error(`${script} ${args[0] ?? ''} exited before it was ready`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${script} was not ready in time`)), START_TIMEOUT_MS);
      }),
    ]);
    return { child, ready: ready as Extract<Report, { type: 'ready' }> };
  } catch (error) {
    proc.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/** Asks a child to stop with `message`, and SIGKILLs it if it has not exited after 2 s. */
export async function stopChild<Message>(
  child: Child<Message, { type: string }>,
  message: Message,
): Promise<void> {
  if (!child.alive()) return;
  child.process.send(message as object);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), 2_000);
  await child.exited;
  clearTimeout(timer);
}
