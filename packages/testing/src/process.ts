import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const REGISTER = path.resolve(__dirname, '../../../tools/sim/register.cjs');

export interface StartedProcess {
  readonly child: ChildProcess;
  /** What it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** The first capture group of `ready` once it matched (or the whole match). */
  readonly match: string;
  /** Sends `signal` (default SIGTERM) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Runs a TypeScript (or JavaScript) entry point as its own node process, through the swc hook the
 * apps use, and resolves once its output matches `ready`; rejects with what it printed if it
 * exits first or `timeoutMs` passes.
 */
export async function startProcess(
  entry: string,
  {
    args = [],
    env = {},
    ready,
    timeoutMs = 20_000,
  }: { args?: readonly string[]; env?: NodeJS.ProcessEnv; ready: RegExp; timeoutMs?: number },
): Promise<StartedProcess> {
  const child = spawn(process.execPath, ['-r', REGISTER, entry, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const match = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} printed no ${String(ready)} within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      const found = ready.exec(out);
      if (found === null) return;
      clearTimeout(timer);
      resolve(found[1] ?? found[0]);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited with ${String(code)} before it was ready:\n${out}`));
    });
  });
  return {
    child,
    output: () => out,
    match,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/**
 * Runs an entry point as `startProcess` does, to its exit: its exit code (null if it had to be
 * killed after `timeoutMs`, a hang) and what it printed, stdout then stderr.
 */
export function runToExit(
  entry: string,
  {
    args = [],
    env = {},
    timeoutMs = 20_000,
  }: { args?: readonly string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, ['-r', REGISTER, entry, ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}
