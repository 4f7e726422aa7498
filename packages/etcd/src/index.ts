/**
 * @ballast/etcd: etcd v3 service discovery for Ballast. `etcdDiscovery()` feeds a balancer with
 * the instances registered under `<prefix>/<service>/<id>`; `registerInstance()` registers a
 * running service there under a kept-alive lease.
 *
 * @packageDocumentation
 */
export { etcdDiscovery, type EtcdDiscoveryOptions } from './discovery';
export { registerInstance, type RegisterInstanceOptions, type Registration } from './register';
export type { EtcdConnectionOptions } from './client';
