/**
 * Service-time shapes, all with mean 1: a server multiplies a request's size by its own mean
 * service time. Each draw consumes a fixed number of uniforms, so every strategy run of a
 * scenario sees the very same requests (common random numbers: differences between strategies
 * are then the strategies', not the dice's).
 */
import type { Random } from '@ballast/core';

/** How request sizes are distributed. */
export type SizeDistribution =
  | { readonly kind: 'exponential' }
  | { readonly kind: 'lognormal'; readonly sigma: number }
  | { readonly kind: 'constant' };

/** Draws one size with mean 1; always consumes exactly two uniforms. */
export function drawSize(dist: SizeDistribution, random: Random): number {
  const u1 = random();
  const u2 = random();
  switch (dist.kind) {
    case 'exponential':
      return -Math.log(1 - u1);
    case 'lognormal': {
      // Box-Muller; exp(σZ − σ²/2) has mean 1.
      const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
      return Math.exp(dist.sigma * z - (dist.sigma * dist.sigma) / 2);
    }
    case 'constant':
      return 1;
  }
}

/** Exponential gap with the given rate per ms (Poisson arrivals). */
export function exponentialGap(ratePerMs: number, random: Random): number {
  return -Math.log(1 - random()) / ratePerMs;
}
