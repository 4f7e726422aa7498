// The system programs the proxy benchmark drives: wrk (the load), nginx and HAProxy (two rows).
// A missing one is installed from Debian's packages when this runs as root on a system with
// apt-get; otherwise wrk is required and the nginx and HAProxy rows are skipped with a note.
//
// Why no Node load generator as a fallback: on 2 cores the load generator shares the CPUs with the
// proxy and the upstreams, and one written in JavaScript (autocannon) spends more CPU per request
// than wrk, taking it from the proxy under test.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

/** Program → Debian package. */
const PACKAGES = { wrk: 'wrk', nginx: 'nginx', haproxy: 'haproxy' };
const SEARCH = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin'];
/** Debian's hook that tells maintainer scripts whether they may start services; 101 = never. */
const POLICY_RC_D = '/usr/sbin/policy-rc.d';

export function which(program) {
  for (const dir of SEARCH) {
    if (dir === '') continue;
    const file = path.join(dir, program);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Finds each program, installing the missing ones when possible (`install: false` only looks).
 * Returns program → absolute path, or undefined with the reason in `notes`.
 *
 * @param {string[]} programs
 * @returns {{ paths: Map<string, string | undefined>, notes: Map<string, string> }}
 */
export function ensurePrograms(programs, { install = true, log }) {
  const missing = programs.filter((program) => which(program) === undefined);
  const notes = new Map();
  if (missing.length > 0) {
    const canInstall = install && process.getuid?.() === 0 && which('apt-get') !== undefined;
    if (canInstall) {
      const result = aptInstall(
        missing.map((program) => PACKAGES[program]),
        log,
      );
      for (const program of missing) {
        if (which(program) === undefined)
          notes.set(program, `apt-get install ${PACKAGES[program]} failed: ${result}`);
      }
    } else {
      const why = !install
        ? 'not installed (--no-install)'
        : `not installed, and installing it needs root and apt-get (apt-get install ${missing.map((p) => PACKAGES[p]).join(' ')})`;
      for (const program of missing) notes.set(program, why);
    }
  }
  return { paths: new Map(programs.map((program) => [program, which(program)])), notes };
}

/** apt-get install, after an apt-get update when the package lists are missing or stale. */
function aptInstall(packages, log) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args) => {
    log(`proxy: apt-get ${args.join(' ')}`);
    // apt's chatter goes to stderr: stdout carries only the benchmark's Markdown.
    return spawnSync('apt-get', args, { env, stdio: ['ignore', process.stderr, process.stderr] });
  };
  // Installing nginx or HAProxy would otherwise start the distribution's service (nginx on port
  // 80) on a machine without such a policy; this run starts its own and leaves nothing behind.
  const ownPolicy = !existsSync(POLICY_RC_D);
  if (ownPolicy)
    writeFileSync(POLICY_RC_D, '#!/bin/sh\n# temporary, from npm run bench -- proxy\nexit 101\n', {
      mode: 0o755,
    });
  try {
    const install = ['install', '-y', '--no-install-recommends', ...packages];
    if (run(install).status === 0) return 'ok';
    if (run(['update']).status !== 0) return 'apt-get update failed';
    const retry = run(install);
    return retry.status === 0 ? 'ok' : `exit ${retry.status ?? retry.signal}`;
  } finally {
    if (ownPolicy) rmSync(POLICY_RC_D, { force: true });
  }
}

/** `wrk -v` → "wrk 4.1.0 [epoll] ..." first line; "nginx -v" → "nginx/1.22.1"; for the report. */
export function programVersion(program, file) {
  const args = { wrk: ['-v'], nginx: ['-v'], haproxy: ['-v'] }[program];
  const result = spawnSync(file, args, { encoding: 'utf8' });
  const text = `${result.stdout ?? ''}${result.stderr ?? ''}`;
  const match = /(\d+\.\d+(?:\.\d+)?)/.exec(text);
  return match ? `${program} ${match[1]}` : program;
}
