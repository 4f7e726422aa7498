import { Inject } from '@nestjs/common';

/** The injection token of a service's `Balancer` (what `@InjectBalancer(name)` injects). */
export const getBalancerToken = (service: string): string => `BallastBalancer:${service}`;

/** The injection token of a service's balanced axios instance (what `@InjectBalancedHttp(name)` injects). */
export const getBalancedHttpToken = (service: string): string => `BallastHttp:${service}`;

/**
 * Injects the `Balancer` of a named service. `BallastModule.forRoot()` provides one for each
 * configured service; with `forRootAsync()`, import `BallastModule.forFeature([name])` where it
 * is injected.
 *
 * @example
 * ```ts
 * @Injectable()
 * class UsersGateway {
 *   constructor(@InjectBalancer('users') private readonly users: Balancer) {}
 * }
 * ```
 */
export const InjectBalancer = (service: string): ParameterDecorator & PropertyDecorator =>
  Inject(getBalancerToken(service));

/**
 * Injects the balanced HTTP client of a named service: an axios instance whose relative URLs go
 * to an instance the service's balancer picks, with failover (`@ballast/axios`). Needs the
 * optional peers axios and @ballast/axios.
 *
 * @example
 * ```ts
 * @Injectable()
 * class UsersClient {
 *   constructor(@InjectBalancedHttp('users') private readonly http: AxiosInstance) {}
 *   find(id: string) { return this.http.get(`/users/${id}`); }
 * }
 * ```
 */
export const InjectBalancedHttp = (service: string): ParameterDecorator & PropertyDecorator =>
  Inject(getBalancedHttpToken(service));
