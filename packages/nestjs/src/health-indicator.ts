import { Inject, Injectable } from '@nestjs/common';

import { BallastService } from './ballast-service';
import type { BallastHealthResult } from './types';

/**
 * A `@nestjs/terminus` health indicator: `up` while every service (or each of `services`) has
 * at least one healthy instance, with per-service counts of healthy, ejected and total
 * instances. It returns terminus's result shape without importing terminus (an optional peer),
 * which counts a `down` result as a failed check (terminus 11 and later).
 *
 * @example
 * ```ts
 * @Controller('health')
 * class HealthController {
 *   constructor(private readonly health: HealthCheckService, private readonly ballast: BallastHealthIndicator) {}
 *   @Get() @HealthCheck()
 *   check() { return this.health.check([() => this.ballast.isHealthy('upstreams')]); }
 * }
 * ```
 */
@Injectable()
export class BallastHealthIndicator {
  constructor(@Inject(BallastService) private readonly ballast: BallastService) {}

  /** The health of `services` (default: all) under `key` (default `ballast`). */
  isHealthy<const Key extends string = 'ballast'>(
    key: Key = 'ballast' as Key,
    services?: readonly string[],
  ): BallastHealthResult<Key> {
    const health = this.ballast.health(services);
    const up = Object.values(health).every((service) => service.status === 'up');
    return { [key]: { status: up ? 'up' : 'down', services: health } } as BallastHealthResult<Key>;
  }
}
