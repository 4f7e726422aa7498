// The processes of a proxy benchmark run: starting them, reading their CPU time, and stopping
// every one of them, whatever way the run ends.
import { fork, spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import process from 'node:process';

/** Everything started and not yet stopped: `stopAll()` ends them, newest first. */
const running = new Set();
const STOP_GRACE_MS = 5_000;

/**
 * Forks a Node script with an IPC channel and waits for its first message (it reports its ports
 * once it listens). The process is stopped with a "stop" message, then SIGKILL after a grace.
 */
export async function forkChild(script, args, { label }) {
  const child = fork(script, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const stderr = collect(child.stderr);
  const handle = track(label, child, () => child.connected && child.send('stop'));
  const ready = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code, signal) =>
      reject(
        new Error(`${label} exited before it was ready (${signal ?? `exit ${code}`}): ${stderr().trim()}`),
      ),
    );
  }).catch(async (error) => {
    await handle.stop();
    throw error;
  });
  return { ...handle, ready };
}

/**
 * Spawns a server program that stays in the foreground and waits until `port` accepts
 * connections. Stopped with `stopSignal`, then SIGKILL after a grace.
 */
export async function spawnServer(file, args, { label, port, stopSignal = 'SIGTERM' }) {
  const child = spawn(file, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr = collect(child.stderr);
  const handle = track(label, child, () => child.kill(stopSignal));
  try {
    await waitForPort(port, child);
  } catch (error) {
    await handle.stop();
    throw new Error(`${label} did not start: ${error.message} ${stderr().trim()}`.trim());
  }
  return handle;
}

function track(label, child, askToStop) {
  let exited = child.exitCode !== null || child.signalCode !== null;
  const exit = new Promise((resolve) => child.once('exit', resolve));
  exit.then(() => {
    exited = true;
  });
  const handle = {
    label,
    pid: child.pid,
    async stop() {
      running.delete(handle);
      if (exited) return;
      askToStop();
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exit;
      clearTimeout(timer);
    },
  };
  running.add(handle);
  return handle;
}

/** Stops every process still running, newest first. */
export async function stopAll() {
  for (const handle of [...running].reverse()) await handle.stop();
}

function collect(stream) {
  let text = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk) => {
    text = (text + chunk).slice(-4_000);
  });
  return () => text;
}

async function waitForPort(port, child, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`it exited (${child.signalCode ?? `exit ${child.exitCode}`})`);
    }
    if (await connects(port)) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function connects(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A port that was free a moment ago, for the programs that cannot listen on port 0 and tell. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on Linux almost everywhere). */
export const CLOCK_TICKS = (() => {
  const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const ticks = Number(result.stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
})();

/**
 * CPU time (user + system, in µs) used so far by process `pid` and all its descendants (an nginx
 * master and its worker): every thread of each, read from /proc/<pid>/stat.
 */
export function cpuMicros(pid) {
  const stats = readStats();
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    for (const stat of stats.values()) if (stat.ppid === tree[i]) tree.push(stat.pid);
  }
  const ticks = tree.reduce((sum, p) => sum + (stats.get(p)?.ticks ?? 0), 0);
  return (ticks * 1e6) / CLOCK_TICKS;
}

/**
 * CPU time (µs) the whole machine's processes have spent busy (user, nice, system; all cores)
 * and stolen by the hypervisor, from /proc/stat: with our own processes' times subtracted, what
 * everything else on the machine used during a load. Interrupt time is left out: the loopback
 * traffic of the load itself is handled in softirq, which Linux charges to no process, so it
 * could not be subtracted and made every fast load (direct, nginx, HAProxy) look disturbed.
 */
export function machineMicros() {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , , , steal] = fields;
  const toMicros = (ticks) => (ticks * 1e6) / CLOCK_TICKS;
  return { busy: toMicros(user + nice + system), stolen: toMicros(steal ?? 0) };
}

/** CPU time (µs) of this process and of the children it has waited for (wrk, once it exited). */
export function selfMicros() {
  const text = readFileSync('/proc/self/stat', 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14 to 17 of proc(5).
  const ticks = Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  return (ticks * 1e6) / CLOCK_TICKS;
}

function readStats() {
  const stats = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // it exited in the meantime
    }
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // Fields 4 (ppid), 14 (utime) and 15 (stime) of proc(5), counted from field 3 here.
    stats.set(Number(name), {
      pid: Number(name),
      ppid: Number(fields[1]),
      ticks: Number(fields[11]) + Number(fields[12]),
    });
  }
  return stats;
}

/**
 * Stops the run's processes when the user interrupts it, runs `cleanUp`, then exits as
 * interrupted. Returns the function that removes the handlers.
 */
export function stopOnSignals(cleanUp) {
  const onSignal = (signal) => {
    void stopAll()
      .finally(cleanUp)
      .finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}
