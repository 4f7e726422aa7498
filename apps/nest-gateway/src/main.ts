// The NestJS example gateway: `npm start -w @ballast/example-nest-gateway`.
//   USERS_INSTANCES, ORDERS_INSTANCES   comma-separated upstream URLs (unset: local demo upstreams)
//   BALLAST_STRATEGY                    a strategy name (default: adaptive)
//   PORT                                default 3000 (0: a free port)
//   STATUS_TOKEN                        protects the status page when set
import type { StrategyName } from '@ballast/core';
import { runGateway } from '../../upstream/src';

import { startGateway } from './gateway';

void runGateway('Nest', ({ strategy, ...options }) =>
  startGateway({ ...options, strategy: strategy as StrategyName | undefined }),
);
