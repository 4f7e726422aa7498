/**
 * @ballast/koa: `app.use(balancer())`, a health-aware load-balancing reverse proxy for Koa 2
 * and 3.
 *
 * @packageDocumentation
 */
export { balancer } from './balancer';
export { status, type KoaStatusOptions, type StatusMiddleware } from './status';
export type { BalancerMiddleware, KoaProxyOptions } from './types';
export { ProxyError, type ProxyHandler, type ProxyOptions } from '@ballast/node';
export { BallastError, type Balancer, type BalancerOptions } from '@ballast/core';
