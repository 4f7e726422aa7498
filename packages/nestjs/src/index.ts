/**
 * @ballast/nestjs: the NestJS module of Ballast. `BallastModule.forRoot()`/`forRootAsync()`,
 * `@InjectBalancer()`, balanced HTTP clients (`@InjectBalancedHttp()`, through @ballast/axios),
 * proxying routes (`BallastProxyMiddleware`), the live status page, a terminus health indicator
 * and Nest logging.
 *
 * @packageDocumentation
 */
export { BallastModule } from './ballast-module';
export { BallastService } from './ballast-service';
export { BallastHealthIndicator } from './health-indicator';
export { BallastProxyMiddleware } from './proxy-middleware';
export { InjectBalancedHttp, InjectBalancer, getBalancedHttpToken, getBalancerToken } from './inject';
export { MODULE_OPTIONS_TOKEN as BALLAST_MODULE_OPTIONS } from './module-definition';
export { nestLogger } from './nest-logger';
export type {
  BallastHealthResult,
  BallastModuleOptions,
  ProxyMiddlewareOptions,
  ServiceConfig,
  ServiceHealth,
  StatusPageOptions,
} from './types';
export type { MountedStatusPage } from './status-page';
export { BallastError, type Balancer, type BalancerOptions } from '@ballast/core';
export { ProxyError, type HealthCheckOptions, type ProxyOptions } from '@ballast/node';
