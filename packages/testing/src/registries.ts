import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * Real registries for discovery tests: dnsmasq (Debian package `dnsmasq-base`) and etcd (Debian
 * package `etcd-server`), each started on free loopback ports with its own temporary files and
 * stopped by `close()`. A missing binary fails the test with the package to install.
 */

/** Finds `binary` in the usual places or fails naming the Debian package that provides it. */
export function requireBinary(binary: string, debianPackage: string): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/bin', '/usr/local/bin'];
  for (const dir of dirs) {
    const file = path.join(dir, binary);
    if (dir !== '' && existsSync(file)) return file;
  }
  throw new Error(
    `${binary} is not installed: these tests run a real ${binary}. Install the Debian package ` +
      `${debianPackage} (apt-get install -y ${debianPackage}).`,
  );
}

/** A TCP port that was free a moment ago (and, with `udp`, free for UDP as well). */
export async function freePort(udp = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const server = net.createServer();
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
    if (!udp) return port;
    const socket = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('error', () => resolve(false));
      socket.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no free loopback port found');
}

/** A child process with its output kept for error messages. */
interface Daemon {
  readonly child: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves once the process has exited. */
  stop(): Promise<void>;
}

function daemon(file: string, args: readonly string[]): Daemon {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (chunk: Buffer) => {
    out = (out + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', (error) => keep(Buffer.from(`\nspawn error: ${error.message}\n`)));
  return {
    child,
    output: () => out,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await exited;
        clearTimeout(timer);
      }
      child.stdout!.destroy();
      child.stderr!.destroy();
    },
  };
}

/** Polls `check` until it resolves true; fails with the daemon's output after `timeoutMs`. */
async function until(check: () => Promise<boolean>, what: string, proc: Daemon, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      await proc.stop();
      throw new Error(
        `${what} did not come up (exit code ${proc.child.exitCode}); its output:\n${proc.output()}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** DNS records served by dnsmasq. */
export interface DnsRecords {
  /** `name -> addresses` (A and AAAA records, from a hosts file). */
  readonly hosts?: Readonly<Record<string, readonly string[]>>;
  /** SRV records. */
  readonly srv?: ReadonlyArray<{
    readonly name: string;
    readonly target: string;
    readonly port: number;
    readonly priority?: number;
    readonly weight?: number;
  }>;
}

/** A dnsmasq serving `127.0.0.1:<port>` over UDP and TCP. */
export interface Dnsmasq {
  readonly port: number;
  /** `127.0.0.1:<port>`, for `resolver.setServers([...])`. */
  readonly server: string;
  /**
   * Serves new records. Hosts alone are re-read on SIGHUP (as in production); SRV records live
   * in the configuration, which dnsmasq reads only at start, so then it restarts on the same port.
   */
  setRecords(records: DnsRecords): Promise<void>;
  /** Stops the server (lookups fail) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts dnsmasq on a free loopback port with only `records` (no upstream, no /etc/hosts). */
export async function startDnsmasq(records: DnsRecords): Promise<Dnsmasq> {
  const binary = requireBinary('dnsmasq', 'dnsmasq-base');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ballast-dnsmasq-'));
  const conf = path.join(dir, 'dnsmasq.conf');
  const hosts = path.join(dir, 'hosts');
  const port = await freePort(true);
  let current = records;
  let proc: Daemon | undefined;

  const write = () => {
    const lines = Object.entries(current.hosts ?? {}).flatMap(([name, addresses]) =>
      addresses.map((address) => `${address} ${name}`),
    );
    writeFileSync(hosts, `${lines.join('\n')}\n`);
    const srv = (current.srv ?? []).map(
      (r) => `srv-host=${r.name},${r.target},${r.port},${r.priority ?? 0},${r.weight ?? 0}`,
    );
    writeFileSync(conf, `${srv.join('\n')}\n`);
  };
  const start = async () => {
    write();
    const p = daemon(binary, [
      '--keep-in-foreground',
      `--port=${port}`,
      '--listen-address=127.0.0.1',
      '--bind-interfaces',
      '--no-resolv',
      // Names under .test are this server's: a name without an A (or AAAA) record answers
      // NODATA, as a real zone would, not REFUSED.
      '--local=/test/',
      '--no-hosts',
      '--no-poll',
      '--pid-file=',
      '--user=',
      '--local-ttl=0',
      '--cache-size=0',
      `--conf-file=${conf}`,
      `--addn-hosts=${hosts}`,
      '--log-facility=-',
    ]);
    proc = p;
    // Ready once it answers over TCP.
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.once('connect', () => (socket.destroy(), resolve(true)));
          socket.once('error', () => resolve(false));
        }),
      'dnsmasq',
      p,
    );
  };
  const stop = async () => {
    const p = proc;
    proc = undefined;
    await p?.stop();
  };
  await start();
  return {
    port,
    server: `127.0.0.1:${port}`,
    async setRecords(next) {
      const restart = JSON.stringify(next.srv ?? []) !== JSON.stringify(current.srv ?? []);
      current = next;
      if (restart || proc === undefined) {
        await stop();
        await start();
      } else {
        write();
        proc.child.kill('SIGHUP');
      }
    },
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A single-member etcd on loopback ports with a temporary data dir. */
export interface Etcd {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Kills etcd (SIGKILL: no clean shutdown) and keeps its data dir. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Starts etcd (v3 API) on free loopback ports; resolves when it serves requests. */
export async function startEtcd(): Promise<Etcd> {
  const binary = requireBinary('etcd', 'etcd-server');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ballast-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let proc: Daemon | undefined;

  const start = async () => {
    const p = daemon(binary, [
      '--name=ballast-test',
      `--data-dir=${path.join(dir, 'data')}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=ballast-test=${peer}`,
      '--initial-cluster-state=new',
      '--log-level=warn',
    ]);
    proc = p;
    await until(
      async () => {
        try {
          const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
          return res.ok && ((await res.json()) as { health?: string }).health === 'true';
        } catch {
          return false;
        }
      },
      'etcd',
      p,
    );
  };
  const kill = async () => {
    const p = proc;
    proc = undefined;
    if (p === undefined) return;
    p.child.kill('SIGKILL');
    await p.stop();
  };
  await start();
  return {
    url,
    kill,
    start,
    async close() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
