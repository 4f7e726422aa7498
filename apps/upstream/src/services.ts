import { startUpstream, type DemoUpstream } from './upstream';

/** The instance URLs of each service a gateway balances, by service name. */
export type Services = Record<string, string[]>;

export interface ResolvedServices {
  readonly services: Services;
  /** Demo upstreams started because a service's variable was unset; close them on shutdown. */
  readonly started: readonly DemoUpstream[];
}

/**
 * Where the example gateways find their upstreams: `<SERVICE>_INSTANCES` (comma-separated URLs,
 * e.g. `USERS_INSTANCES=http://10.0.0.1:3000,http://10.0.0.2:3000`) for each service; a service
 * whose variable is unset gets `perService` local demo upstreams on free ports, so an example
 * runs with no outside service.
 */
export async function servicesFromEnv(
  names: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  perService = 2,
): Promise<ResolvedServices> {
  const services: Services = {};
  const started: DemoUpstream[] = [];
  for (const name of names) {
    const variable = `${name.toUpperCase()}_INSTANCES`;
    const configured = env[variable]
      ?.split(',')
      .map((url) => url.trim())
      .filter((url) => url !== '');
    if (configured !== undefined && configured.length > 0) {
      services[name] = configured;
      continue;
    }
    const local = await Promise.all(
      Array.from({ length: perService }, (_, i) =>
        startUpstream({ name: `${name}-${i + 1}`, latencyMs: 5 + 5 * i }),
      ),
    );
    started.push(...local);
    services[name] = local.map((upstream) => upstream.url);
  }
  return { services, started };
}
