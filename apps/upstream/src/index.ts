export { servicesFromEnv, type ResolvedServices, type Services } from './services';
export {
  checkBehaviour,
  startUpstream,
  type DemoUpstream,
  type UpstreamBehaviour,
  type UpstreamOptions,
} from './upstream';
export { lineLogger, type LineLogger } from './log';
export { envValue, parseFlags } from './flags';
export {
  balanceUpgrades,
  runGateway,
  serveGateway,
  type GatewayOptions,
  type RunningGateway,
  type UpgradeHandler,
} from './gateway-main';
