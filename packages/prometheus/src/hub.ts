import { InvalidConfigError, type Balancer, type DiscoverySnapshot, type InstanceState } from '@ballast/core';
import { Counter, Gauge, type Metric } from 'prom-client';
import { Attachment } from './attachment';
import type { Series } from './series';
import { BucketIndex } from './bucket-index';
import { LatencyHistogram } from './histogram';
import type { MetricsConfig } from './options';
import type { AnyRegistry } from './types';

const STATES: readonly InstanceState[] = ['healthy', 'slow-start', 'unhealthy', 'ejected', 'draining'];
const DISCOVERY_STATES: readonly DiscoverySnapshot['state'][] = ['pending', 'ok', 'failing'];

/**
 * Where the hubs of a registry are kept: on the registry itself, under a global symbol, so two
 * copies of this package (its CommonJS and ESM builds) share them and never register twice.
 */
const HUBS = Symbol.for('@ballast/prometheus.hubs');

type WithHubs = AnyRegistry & { [HUBS]?: Map<string, Hub> };

/** The hub of `config.registry` and `config.prefix`, created on first use (get or create). */
export function hubFor(config: MetricsConfig): Hub {
  const registry = config.registry as WithHubs;
  const hubs = (registry[HUBS] ??= new Map());
  let hub = hubs.get(config.prefix);
  // registry.clear() unregisters the metrics but keeps this cache: build them again.
  if (hub !== undefined && !hub.registered()) {
    hub.stop();
    hubs.delete(config.prefix);
    hub = undefined;
  }
  if (hub === undefined) {
    hub = new Hub(config);
    hubs.set(config.prefix, hub);
    return hub;
  }
  if (!sameNumbers(hub.config.buckets, config.buckets))
    throw new InvalidConfigError(
      'buckets',
      config.buckets,
      `this registry's "${config.prefix}" metrics were created with other buckets (${hub.config.buckets.join(', ')})`,
    );
  if (hub.config.metadataLabels.join() !== config.metadataLabels.join())
    throw new InvalidConfigError(
      'metadataLabels',
      config.metadataLabels,
      `this registry's "${config.prefix}" metrics were created with other labels (${hub.config.metadataLabels.join(', ') || 'none'})`,
    );
  return hub;
}

/**
 * One set of Ballast metrics in one registry, fed by any number of balancers (one per service
 * name). Per-request counts live in the attachments and reach prom-client at scrape time;
 * gauges are read from each balancer's snapshot at scrape time, so they cost nothing between
 * scrapes.
 */
export class Hub {
  private readonly attachments = new Map<string, Attachment>();
  private prepared = false;
  private readonly bucketIndex: BucketIndex;
  private readonly requests: Counter;
  private readonly retries: Counter;
  private readonly noInstance: Counter;
  private readonly switches: Counter;
  private readonly inflight: Gauge;
  private readonly health: Gauge;
  private readonly ejected: Gauge;
  private readonly instances: Gauge;
  private readonly strategy: Gauge;
  private readonly discoveryState: Gauge;
  private readonly discoveryAge: Gauge;

  constructor(readonly config: MetricsConfig) {
    const { registry, prefix, metadataLabels } = config;
    this.bucketIndex = new BucketIndex(config.boundsMs);
    const names = [
      'requests_total',
      'request_duration_seconds',
      'inflight_requests',
      'instance_health',
      'instance_ejected',
      'instances',
      'strategy_info',
      'strategy_switches_total',
      'retries_total',
      'no_instance_total',
      'discovery_state',
      'discovery_update_age_seconds',
    ];
    for (const name of names) {
      if (registry.getSingleMetric(prefix + name) !== undefined)
        throw new InvalidConfigError(
          'prefix',
          prefix,
          `"${prefix}${name}" is already registered in this registry by something else; choose another prefix`,
        );
    }
    const perInstance = ['service', 'instance', ...metadataLabels];
    const prepare = (): void => this.prepare();
    const registers = [registry];
    const counter = (name: string, help: string, labelNames: string[]): Counter =>
      new Counter({ name: prefix + name, help, labelNames, registers, collect: prepare });
    const gauge = (name: string, help: string, labelNames: string[]): Gauge =>
      new Gauge({ name: prefix + name, help, labelNames, registers, collect: prepare });

    this.requests = counter('requests_total', 'Requests released, by outcome', [...perInstance, 'outcome']);
    registry.registerMetric(
      new LatencyHistogram(
        `${prefix}request_duration_seconds`,
        'Request latency as released to the balancer, in seconds',
        perInstance,
        config.buckets,
        () => this.attachments.values(),
        prepare,
      ) as unknown as Metric,
    );
    this.inflight = gauge('inflight_requests', 'Requests picked and not yet released', perInstance);
    this.health = gauge('instance_health', 'Health score of the instance, 0 to 1', perInstance);
    this.ejected = gauge('instance_ejected', '1 while the instance is ejected as an outlier', perInstance);
    this.instances = gauge('instances', 'Instances by state', ['service', 'state']);
    this.strategy = gauge('strategy_info', 'The strategy choosing now (1) and those seen before (0)', [
      'service',
      'strategy',
    ]);
    this.switches = counter('strategy_switches_total', 'Switches of the adaptive strategy', ['service']);
    this.retries = counter('retries_total', 'Requests retried on another instance', ['service']);
    this.noInstance = counter('no_instance_total', 'Picks that found no instance', ['service']);
    this.discoveryState = gauge('discovery_state', "The discovery source's state: 1 for the current one", [
      'service',
      'source',
      'state',
    ]);
    this.discoveryAge = gauge('discovery_update_age_seconds', 'Seconds since the last good discovery list', [
      'service',
    ]);
  }

  /** Whether its metrics are still the registry's (not dropped by `registry.clear()`). */
  registered(): boolean {
    return this.config.registry.getSingleMetric(`${this.config.prefix}requests_total`) === this.requests;
  }

  /** Stops every attachment: its metrics are gone from the registry. */
  stop(): void {
    for (const attachment of this.attachments.values()) attachment.stop();
    this.attachments.clear();
  }

  /** Starts reporting `balancer`, or counts one more user of it. */
  attach(balancer: Balancer, field: string): Attachment {
    let attachment = this.attachments.get(balancer.service);
    // A closed balancer gives its service name up to its successor (a reload): its series go.
    if (attachment !== undefined && attachment.balancer !== balancer && attachment.balancer.closed) {
      attachment.refs = 1;
      this.detach(attachment);
      attachment = undefined;
    }
    if (attachment !== undefined && attachment.balancer !== balancer)
      throw new InvalidConfigError(
        `${field}.service`,
        balancer.service,
        'another balancer with this service name reports to these metrics; give each a distinct service',
      );
    if (attachment === undefined) {
      attachment = new Attachment(balancer, this.bucketIndex, this.config.metadataLabels);
      this.attachments.set(balancer.service, attachment);
      attachment.start();
    }
    attachment.refs += 1;
    return attachment;
  }

  /** One user fewer; the last one stops the reporting and removes the balancer's series. */
  detach(attachment: Attachment): void {
    if (attachment.refs === 0 || --attachment.refs > 0) return;
    attachment.stop();
    this.attachments.delete(attachment.service);
    for (const series of attachment.allSeries()) {
      this.requests.remove(series.success);
      this.requests.remove(series.failure);
    }
    const service = { service: attachment.service };
    this.retries.remove(service);
    this.noInstance.remove(service);
    this.switches.remove(service);
  }

  /**
   * Brings every metric up to date, once per scrape: the first metric a registry collects does
   * it for all (a registry collects them all in one synchronous pass).
   */
  private prepare(): void {
    if (this.prepared) return;
    this.prepared = true;
    queueMicrotask(() => {
      this.prepared = false;
    });
    for (const gauge of [
      this.inflight,
      this.health,
      this.ejected,
      this.instances,
      this.strategy,
      this.discoveryState,
      this.discoveryAge,
    ])
      gauge.reset();
    for (const attachment of this.attachments.values()) {
      this.flush(attachment);
      this.read(attachment);
    }
  }

  /** Hands the counts since the last scrape to prom-client; drops the series of instances gone. */
  private flush(attachment: Attachment): void {
    const service = { service: attachment.service };
    this.retries.inc(service, attachment.retries);
    this.noInstance.inc(service, attachment.noInstance);
    this.switches.inc(service, attachment.switches);
    attachment.retries = attachment.noInstance = attachment.switches = 0;
    const retired = attachment.retired;
    attachment.retired = [];
    for (const [i, series] of retired.entries()) {
      if (series.reported) {
        // An id removed and added again (or metadata changed back) has its label set in use
        // still: its counts carry on there, or the counter and histogram would start over.
        const heir = attachment.heirOf(series, retired, i + 1);
        if (heir !== undefined) heir.absorb(series);
        else {
          this.requests.remove(series.success);
          this.requests.remove(series.failure);
        }
      } else {
        this.count(series);
        attachment.retired.push(series);
      }
    }
    const balancer = attachment.balancer;
    for (const [instance, series] of attachment.series) {
      this.count(series);
      // Bounded labels: a removed instance takes its series with it, after this last scrape.
      if (balancer.get(instance.id) !== instance && instance.inflight === 0) {
        attachment.retire(instance, series);
        // Counted just now: the next scrape drops it.
        series.reported = true;
      }
    }
  }

  /** Hands a series' outcomes since the last scrape to prom-client. */
  private count(series: Series): void {
    const { ok, failed } = series.take();
    this.requests.inc(series.success, ok);
    this.requests.inc(series.failure, failed);
    series.reported = true;
  }

  /** Sets the gauges from the balancer's snapshot. */
  private read(attachment: Attachment): void {
    const snapshot = attachment.balancer.snapshot();
    const service = snapshot.service;
    const counts = new Map<InstanceState, number>(STATES.map((state) => [state, 0]));
    // An id removed and added again while its old instance drains is in the snapshot twice
    // (current ones first): one label set, whose in-flight is the sum and whose health is the
    // current instance's.
    const current = new Set<string>();
    for (const instance of snapshot.instances) {
      const labels = attachment.labelsOf(instance.id, instance.metadata);
      this.inflight.inc(labels, instance.inflight);
      const key = JSON.stringify(labels);
      if (!current.has(key)) {
        current.add(key);
        this.health.set(labels, instance.health);
        this.ejected.set(labels, instance.state === 'ejected' ? 1 : 0);
      }
      counts.set(instance.state, (counts.get(instance.state) ?? 0) + 1);
    }
    for (const [state, count] of counts) this.instances.set({ service, state }, count);
    attachment.strategies.add(snapshot.activeStrategy);
    for (const strategy of attachment.strategies)
      this.strategy.set({ service, strategy }, strategy === snapshot.activeStrategy ? 1 : 0);
    const discovery = snapshot.discovery;
    if (discovery !== undefined) {
      const source = discovery.source;
      for (const state of DISCOVERY_STATES)
        this.discoveryState.set({ service, source, state }, state === discovery.state ? 1 : 0);
      if (discovery.sinceUpdateMs !== undefined)
        this.discoveryAge.set({ service }, discovery.sinceUpdateMs / 1000);
    }
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((value, i) => value === b[i]);
}
