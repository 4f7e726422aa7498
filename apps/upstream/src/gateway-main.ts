import type { LineLogger } from './log';
import { lineLogger } from './log';
import { servicesFromEnv, type Services } from './services';

/**
 * The `main` of the example gateways: two services, `users` and `orders`, from the environment
 * (see `servicesFromEnv`); `BALLAST_STRATEGY`; `PORT` (default 3000, 0 for a free one);
 * `STATUS_TOKEN`. Prints the URLs to try and stops cleanly on SIGINT and SIGTERM.
 */
export async function runGateway(
  label: string,
  start: (options: {
    services: Services;
    strategy?: string;
    port: number;
    statusToken?: string;
    logger: LineLogger;
  }) => Promise<{ url: string; close(): Promise<void> }>,
): Promise<void> {
  try {
    const { services, started } = await servicesFromEnv(['users', 'orders']);
    const gateway = await start({
      services,
      strategy: process.env.BALLAST_STRATEGY,
      port: Number(process.env.PORT ?? 3000),
      statusToken: process.env.STATUS_TOKEN,
      logger: lineLogger('info'),
    });
    for (const upstream of started) console.log(`demo upstream ${upstream.name} on ${upstream.url}`);
    console.log(`${label} gateway on ${gateway.url}
  ${gateway.url}/users/42      balanced over ${services.users!.join(', ')}
  ${gateway.url}/orders/7      balanced over ${services.orders!.join(', ')}
  ${gateway.url}/ballast/      the live status page
  ${gateway.url}/metrics       Prometheus metrics`);
    const stop = (): void => {
      void Promise.all([gateway.close(), ...started.map((upstream) => upstream.close())]).then(() => process.exit(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (err) {
    console.error(`${label} gateway: ${(err as Error).message}`);
    process.exit(1);
  }
}
