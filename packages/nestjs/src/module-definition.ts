import { ConfigurableModuleBuilder } from '@nestjs/common';

import type { BallastModuleOptions } from './types';

/**
 * The configurable core of `BallastModule`: `forRoot(options)` and
 * `forRootAsync({ imports, useFactory, inject })` (or `useClass`/`useExisting` with a
 * `createBallastOptions()` method) provide the options; `isGlobal` is an extra, read by
 * `BallastModule` and never part of the options.
 */
export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN, OPTIONS_TYPE, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<BallastModuleOptions>({ moduleName: 'Ballast' })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createBallastOptions')
    .setExtras({ isGlobal: false }, (definition) => definition)
    .build();
