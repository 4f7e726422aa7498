/**
 * @ballast/etcd: etcd v3 service discovery for Ballast: etcdDiscovery() and registerInstance().
 *
 * @packageDocumentation
 */
export {};
