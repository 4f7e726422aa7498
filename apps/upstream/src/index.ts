export { checkBehaviour, startUpstream, type DemoUpstream, type UpstreamBehaviour, type UpstreamOptions } from './upstream';
