/**
 * @ballast/axios: axios interceptors for Ballast: health-aware client-side load balancing for outbound calls.
 *
 * @packageDocumentation
 */
export {};
