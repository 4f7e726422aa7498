/**
 * @ballast/axios: `withBalancer(axios.create(), ...)`, health-aware client-side load balancing
 * for outbound calls, with retries on other instances.
 *
 * @packageDocumentation
 */
export { balancerOf, detachBalancer, withBalancer } from './with-balancer';
export type { WithBalancerOptions } from './types';
export { BallastError, type Balancer, type BalancerOptions } from '@ballast/core';
