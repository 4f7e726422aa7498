// The measuring part of the proxy benchmark: a warm-up load per contender and method, then rounds
// in which every contender takes every load once, each load wrapped in CPU readings of the proxy,
// the upstreams and the rest of the machine.
import { DISTURBED, METHODS } from './plan.mjs';
import { cpuMicros, machineMicros, selfMicros } from './processes.mjs';
import { runWrk } from './wrk.mjs';

/** Lets the sockets of the previous load close before the next one starts. */
const PAUSE_MS = 200;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The CPU counters read around a load; `self` includes wrk once it has exited. */
function readCounters(c, upstreams) {
  return {
    wall: performance.now() * 1000,
    proxy: c.pid === undefined ? 0 : cpuMicros(c.pid),
    upstream: cpuMicros(upstreams.pid),
    self: selfMicros(),
    machine: machineMicros(),
  };
}

/**
 * Measures every contender under every load and returns one sample per load kept: { round,
 * contender, method, requestsPerSecond, p99Us, cpuUsPerRequest, upstreamCpuUsPerRequest,
 * otherCores, stolenCores, attempts, errors }.
 */
export async function measure(contenders, { upstreams, scripts, settings, wrk, log }) {
  const { rounds, warmupSeconds, loadSeconds, threads, connections } = settings;
  const load = (c, method, seconds) =>
    runWrk(wrk, {
      url: `http://127.0.0.1:${c.port}/`,
      script: scripts.get(method.id),
      seconds,
      threads,
      connections,
    });

  for (const c of contenders) {
    for (const method of METHODS) {
      log(`warm-up: ${c.id} ${method.id}`);
      await load(c, method, warmupSeconds);
      await sleep(PAUSE_MS);
    }
  }

  /** One measured load, with the CPU time of the proxy, the upstreams and everything else. */
  async function measureLoad(c, method) {
    const before = readCounters(c, upstreams);
    const result = await load(c, method, loadSeconds);
    const after = readCounters(c, upstreams);
    const cpu = after.proxy - before.proxy;
    const upstreamCpu = after.upstream - before.upstream;
    const wallUs = after.wall - before.wall;
    // What the machine did besides this load: other users of the shared cores.
    const ours = cpu + upstreamCpu + (after.self - before.self);
    return {
      contender: c.id,
      method: method.id,
      requestsPerSecond: result.requestsPerSecond,
      p99Us: result.p99Us,
      cpuUsPerRequest: cpu / result.requests,
      upstreamCpuUsPerRequest: upstreamCpu / result.requests,
      otherCores: Math.max(0, after.machine.busy - before.machine.busy - ours) / wallUs,
      stolenCores: (after.machine.stolen - before.machine.stolen) / wallUs,
      errors: result.errors,
    };
  }

  const samples = [];
  let retriesLeft = Math.ceil(DISTURBED.retryShare * rounds * contenders.length * METHODS.length);
  const step = Math.max(1, Math.round(contenders.length / rounds));
  for (let round = 0; round < rounds; round++) {
    const order = contenders.map((_, k) => contenders[(k + round * step) % contenders.length]);
    const methods = round % 2 === 0 ? METHODS : [...METHODS].reverse();
    for (const c of order) {
      for (const method of methods) {
        let sample = await measureLoad(c, method);
        let attempts = 1;
        logSample(log, round, rounds, sample);
        while (
          disturbance(sample) > DISTURBED.cores &&
          attempts <= DISTURBED.retriesPerLoad &&
          retriesLeft > 0
        ) {
          retriesLeft--;
          attempts++;
          await sleep(DISTURBED.pauseMs);
          const again = await measureLoad(c, method);
          logSample(log, round, rounds, again, ' (again: the machine was busy)');
          if (disturbance(again) < disturbance(sample)) sample = again;
        }
        samples.push({ ...sample, round, attempts });
        await sleep(PAUSE_MS);
      }
    }
  }
  return samples;
}

/** The cores the rest of the machine took during a load (see DISTURBED). */
function disturbance(sample) {
  return sample.otherCores + sample.stolenCores;
}

function logSample(log, round, rounds, s, suffix = '') {
  log(
    `round ${round + 1}/${rounds}: ${s.contender.padEnd(15)} ${s.method.padEnd(4)} ` +
      `${Math.round(s.requestsPerSecond).toString().padStart(6)} req/s, p99 ${(s.p99Us / 1000).toFixed(2)} ms, ` +
      `CPU ${Math.round(s.cpuUsPerRequest)} µs/req (upstreams ${Math.round(s.upstreamCpuUsPerRequest)}), ` +
      `others ${s.otherCores.toFixed(2)} + stolen ${s.stolenCores.toFixed(2)} cores` +
      (s.errors > 0 ? `, ${s.errors} errors` : '') +
      suffix,
  );
}
