/**
 * @ballast/testing: helpers shared by the adapters' tests (private, never published). Real
 * upstream servers on 127.0.0.1 port 0, a small HTTP and WebSocket client, polling and
 * open-handle checks, and the gateway suite every proxying adapter runs.
 *
 * @packageDocumentation
 */
export { request, webSocketEcho, type RequestOptions, type Response } from './client';
export { describeGateway } from './gateway-suite';
export {
  QUIET,
  countByName,
  createHarness,
  inflight,
  type AdapterUnderTest,
  type Gateway,
  type GatewayMiddleware,
  type ServedApp,
} from './harness';
export {
  answersWithVaryAndCookies,
  closeServer,
  listen,
  readAll,
  sha256,
  startUpstream,
  startUpstreams,
  type EchoBody,
  type ReceivedRequest,
  type Upstream,
  type UpstreamBehaviour,
  type UpstreamOptions,
} from './upstream';
export { runReadmeExample, type ExampleOutput } from './readme';
export { activeHandles, expectNoHandlesBeyond, failOnProcessErrors, waitFor } from './wait';
export {
  freePort,
  requireBinary,
  startDnsmasq,
  startEtcd,
  type DnsRecords,
  type Dnsmasq,
  type Etcd,
} from './registries';
export { runToExit, startProcess, type StartedProcess } from './process';
export { testExampleGateway } from './example-gateway';
export { gzipChunkedUpload, rawRequest, recordBodies, trickle, type RawAnswer } from './raw-client';
