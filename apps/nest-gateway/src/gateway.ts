import 'reflect-metadata';

import http from 'node:http';

import {
  BallastModule,
  BallastProxyMiddleware,
  BallastService,
  type BallastModuleOptions,
} from '@ballast/nestjs';
import { collectMetrics } from '@ballast/prometheus';
import {
  Controller,
  Get,
  Header,
  Inject,
  Module,
  type DynamicModule,
  type MiddlewareConsumer,
  type NestModule,
  type OnModuleDestroy,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Registry } from 'prom-client';

import { balanceUpgrades, serveGateway, type GatewayOptions, type RunningGateway } from '../../upstream/src';

export type { GatewayOptions, RunningGateway };

const REGISTRY = Symbol('prometheus registry');

/** `/metrics` for Prometheus and `/healthz` for the gateway itself. */
@Controller()
class OpsController implements OnModuleDestroy {
  private readonly detach: () => void;

  constructor(
    @Inject(REGISTRY) private readonly registry: Registry,
    ballast: BallastService,
  ) {
    this.detach = collectMetrics(
      ballast.names().map((name) => ballast.get(name)),
      { registry },
    );
  }

  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  @Get('healthz')
  @Header('content-type', 'text/plain')
  healthz(): string {
    return 'ok\n';
  }

  onModuleDestroy(): void {
    this.detach();
  }
}

/**
 * The gateway's root module: each service proxied at `/<name>` (the upstream sees the full
 * path), the status page at `/ballast/`, `/metrics` and `/healthz`.
 */
@Module({})
class GatewayModule implements NestModule {
  static with(options: BallastModuleOptions): DynamicModule {
    return {
      module: GatewayModule,
      imports: [BallastModule.forRoot(options)],
      controllers: [OpsController],
      providers: [{ provide: REGISTRY, useValue: new Registry() }],
    };
  }

  constructor(private readonly ballast: BallastService) {}

  configure(consumer: MiddlewareConsumer): void {
    for (const name of this.ballast.names())
      consumer.apply(BallastProxyMiddleware.for(name)).forRoutes(name, `${name}/*rest`);
  }
}

/** A NestJS gateway on Express, with the same routes (WebSockets included) as the Express and Koa examples. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { strategy, logger } = options;
  const services = Object.fromEntries(
    Object.entries(options.services).map(([name, instances]) => [
      name,
      { instances, strategy, healthCheck: { path: '/healthz', intervalMs: 2_000 } },
    ]),
  );
  const app = await NestFactory.create(
    GatewayModule.with({
      services,
      statusPage: { token: options.statusToken },
      ...(logger === undefined ? {} : { logger }),
    }),
    // Without abortOnError: false, Nest ends the process on a startup error (a bad strategy),
    // and with its logger off, without a word; the caller reports it instead. No body parser:
    // its own routes take no body, and Nest's would answer 413 to a JSON body over 100 KB and
    // 400 to one that is not JSON instead of letting the upstream see it.
    { logger: false, bodyParser: false, abortOnError: false },
  );
  await app.init();
  const ballast = app.get(BallastService);
  const server = http.createServer(app.getHttpAdapter().getInstance() as http.RequestListener);
  // WebSockets too, on each service's proxy (the one its BallastProxyMiddleware uses).
  balanceUpgrades(
    server,
    Object.fromEntries(ballast.names().map((name) => [name, ballast.proxy(name).upgrade])),
  );
  return serveGateway(
    server,
    options,
    ballast.names().map((name) => ballast.get(name)),
    () => app.close(),
  );
}
