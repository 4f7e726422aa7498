import type { IncomingHttpHeaders } from 'node:http';
import type { Balancer, BalancerEvents, Instance, Logger } from '@ballast/core';
import type { Dispatcher, Pool } from 'undici';
import { acquireDiagnostics, type DiagnosticsPublisher } from './diagnostics';
import { upstreamPath } from './headers';
import { MAX_MS, type HealthCheckConfig } from './options';
import type { Pools } from './pools';

/** Per-instance probe state. */
interface Probe {
  readonly id: string;
  readonly url: string;
  timer: NodeJS.Timeout | undefined;
  inflight: ProbeHandler | undefined;
  /** The last probe dispatched, and its pool: undici may still hold it queued, connecting. */
  sent: { readonly handler: ProbeHandler; readonly pool: Pool } | undefined;
  passes: number;
  failures: number;
  /** The checker's verdict, by the thresholds; instances start healthy. */
  healthy: boolean;
}

/**
 * Active health checks, Envoy's way: each instance is probed with a GET on `path` every
 * `intervalMs` (±10 % jitter, the first probe at a random point of the first interval, so a
 * fleet of gateways does not probe in lockstep). `unhealthyThreshold` consecutive failures take
 * the instance out (`balancer.reportCheck(id, false)`), `healthyThreshold` consecutive passes bring
 * it back; while it passes, a pass is also reported whenever the balancer holds the instance out
 * for its traffic (ejected or unhealthy), which ends that early, as Envoy's
 * `successful_active_health_check_uneject_host`. Probes go through the instance's keep-alive pool.
 * Timers are unref'd: checks never keep a process alive. `close()` stops everything.
 */
export class HealthChecker {
  private readonly probes = new Map<string, Probe>();
  private closed = false;
  private readonly diagnostics: DiagnosticsPublisher;

  constructor(
    private readonly balancer: Balancer,
    private readonly pools: Pools,
    private readonly config: HealthCheckConfig,
    private readonly logger: Logger,
    private readonly random: () => number = Math.random,
  ) {
    this.diagnostics = acquireDiagnostics(balancer);
    for (const instance of balancer.instances()) this.add(instance);
    balancer.on('instance-added', this.onAdded);
    balancer.on('instance-removed', this.onRemoved);
  }

  /**
   * Stops every probe. Returns the pools that still hold a probe undici has not started (queued
   * while it connects to an instance that does not answer): undici cannot abort such a request,
   * and closing its pool would wait for it until the connect timeout.
   */
  close(): Set<Pool> {
    const connecting = new Set<Pool>();
    if (this.closed) return connecting;
    this.closed = true;
    this.balancer.off('instance-added', this.onAdded);
    this.balancer.off('instance-removed', this.onRemoved);
    this.diagnostics.release();
    for (const probe of this.probes.values()) {
      if (probe.sent?.handler.queued === true) connecting.add(probe.sent.pool);
      this.stop(probe);
    }
    this.probes.clear();
    return connecting;
  }

  private readonly onAdded = (event: BalancerEvents['instance-added']): void => this.add(event.instance);

  private readonly onRemoved = (event: BalancerEvents['instance-removed']): void => {
    const probe = this.probes.get(event.instance.id);
    if (probe === undefined) return;
    this.stop(probe);
    this.probes.delete(probe.id);
  };

  private add(instance: Instance): void {
    if (this.closed || this.probes.has(instance.id)) return;
    const probe: Probe = {
      id: instance.id,
      url: instance.url,
      timer: undefined,
      inflight: undefined,
      sent: undefined,
      passes: 0,
      failures: 0,
      healthy: true,
    };
    this.probes.set(probe.id, probe);
    this.schedule(probe, this.random() * this.config.intervalMs);
  }

  private stop(probe: Probe): void {
    if (probe.timer !== undefined) clearTimeout(probe.timer);
    probe.timer = undefined;
    probe.inflight?.cancel();
    probe.inflight = undefined;
  }

  private schedule(probe: Probe, delayMs: number): void {
    // Jitter may lift an interval near the longest timer past it, which Node runs at once.
    probe.timer = setTimeout(this.run, Math.min(delayMs, MAX_MS), probe);
    probe.timer.unref();
  }

  private readonly run = (probe: Probe): void => {
    probe.timer = undefined;
    // Checked first: a pool is created on first use, and a stopped probe must not create one.
    if (!this.current(probe)) return;
    const target = this.pools.get(probe.url);
    if (target === undefined) return;
    // The last probe timed out while undici was still connecting for it (an instance whose host
    // drops connection attempts): it cannot be aborted, and another would open another attempt
    // on top, one per interval. This one fails without a request until that attempt ends.
    if (probe.sent?.handler.queued === true) {
      this.record(probe, false, 'the last probe is still connecting');
      if (this.current(probe)) this.schedule(probe, this.config.intervalMs * (0.9 + 0.2 * this.random()));
      return;
    }
    this.diagnostics.sync();
    const handler = new ProbeHandler(
      this.config.timeoutMs,
      (ok, detail) => {
        probe.inflight = undefined;
        if (!this.current(probe)) return;
        this.record(probe, ok, detail);
        // The report runs the balancer's listeners, which may close the checker or remove the
        // instance: a probe they stopped must not be scheduled again (a timer left after close).
        if (this.current(probe)) this.schedule(probe, this.config.intervalMs * (0.9 + 0.2 * this.random()));
      },
      this.config.expectStatus,
    );
    probe.inflight = handler;
    probe.sent = { handler, pool: target.pool };
    target.pool.dispatch(
      {
        path: upstreamPath(this.config.path, target.base),
        method: 'GET',
        headers: { 'user-agent': 'ballast-health-check' },
      },
      handler,
    );
  };

  /** Whether `probe` is still this open checker's probe of its instance (not stopped or replaced). */
  private current(probe: Probe): boolean {
    return !this.closed && this.probes.get(probe.id) === probe;
  }

  private record(probe: Probe, ok: boolean, detail: string): void {
    const { healthyThreshold, unhealthyThreshold } = this.config;
    const service = this.balancer.service;
    if (ok) {
      probe.failures = 0;
      probe.passes += 1;
      if (!probe.healthy && probe.passes >= healthyThreshold) {
        probe.healthy = true;
        this.logger.info(
          { service, instance: probe.id, reason: 'check-passed', passes: probe.passes },
          'ballast: health check passing again',
        );
        this.balancer.reportCheck(probe.id, true);
        return;
      }
      if (probe.healthy) {
        const state = this.balancer.get(probe.id)?.state;
        if (state === 'ejected' || state === 'unhealthy') this.balancer.reportCheck(probe.id, true);
      }
    } else {
      probe.passes = 0;
      probe.failures += 1;
      this.logger.debug({ service, instance: probe.id, detail }, 'ballast: health check failed');
      if (probe.healthy && probe.failures >= unhealthyThreshold) {
        probe.healthy = false;
        this.logger.warn(
          { service, instance: probe.id, reason: 'check-failed', failures: probe.failures, detail },
          'ballast: health check failing',
        );
        this.balancer.reportCheck(probe.id, false);
      }
    }
  }
}

/**
 * One probe: passes on an expected status once the (drained) body has ended; fails on any error
 * or when `timeoutMs` runs out, also while undici is still connecting (the request is then
 * aborted as soon as it starts).
 */
class ProbeHandler implements Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | undefined;
  private done = false;
  /** Whether undici still holds the request unstarted (queued, or connecting for it). */
  queued = true;
  private status = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    timeoutMs: number,
    private readonly callback: (ok: boolean, detail: string) => void,
    private readonly expect: (status: number) => boolean,
  ) {
    this.timer = setTimeout(() => this.settle(false, `no response within ${timeoutMs} ms`, true), timeoutMs);
    this.timer.unref();
  }

  /** Abandons the probe without a verdict (the checker is stopping). */
  cancel(): void {
    this.done = true;
    clearTimeout(this.timer);
    this.controller?.abort(new Error('health check stopped'));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.queued = false;
    if (this.done) controller.abort(new Error('health check abandoned'));
    else this.controller = controller;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    _headers: IncomingHttpHeaders,
  ): void {
    if (statusCode >= 200) this.status = statusCode;
  }

  onResponseData(): void {
    // The body is drained and dropped, so the socket stays reusable.
  }

  onResponseEnd(): void {
    let ok = false;
    try {
      ok = Boolean(this.expect(this.status));
    } catch {
      // A throwing expectStatus fails the probe; it never breaks the checker.
    }
    this.settle(ok, `status ${this.status}`, false);
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.queued = false;
    this.settle(false, error.message, false);
  }

  private settle(ok: boolean, detail: string, abort: boolean): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    if (abort) this.controller?.abort(new Error(detail));
    this.callback(ok, detail);
  }
}
