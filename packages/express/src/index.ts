/**
 * @ballast/express: `app.use(balancer())`, a health-aware load-balancing reverse proxy for
 * Express 4.18+ and 5.
 *
 * @packageDocumentation
 */
export { balancer } from './balancer';
export { status, type StatusMiddleware } from './status';
export type { BalancerMiddleware, ExpressProxyOptions } from './types';
export {
  ProxyError,
  type ProxyHandler,
  type ProxyOptions,
  type StatusOptions,
  type StatusSnapshot,
} from '@ballast/node';
export { BallastError, type Balancer, type BalancerOptions } from '@ballast/core';
