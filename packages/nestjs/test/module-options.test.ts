import 'reflect-metadata';

import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { BallastModule, BallastService } from '../src';

const crashes: unknown[] = [];
const onCrash = (e: unknown) => crashes.push(e);
beforeEach(() => {
  crashes.length = 0;
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
});
afterEach(() => {
  process.off('unhandledRejection', onCrash);
  process.off('uncaughtException', onCrash);
});

/** Starts an app importing forRoot(options): what startup rejected with, or the service names. */
async function startup(
  options: unknown,
): Promise<{ error?: { code?: unknown; message?: unknown }; names?: string[] }> {
  @Module({ imports: [BallastModule.forRoot(options as never)] })
  class AppModule {}
  try {
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    const names = app.get(BallastService).names();
    await app.close();
    return { names };
  } catch (error) {
    return { error: error as { code?: unknown } };
  }
}

describe('hostile module options', () => {
  test('services given as a Map fail startup with BALLAST_INVALID_CONFIG instead of silently configuring nothing', async () => {
    const result = await startup({ services: new Map([['users', { instances: ['http://127.0.0.1:1'] }]]) });
    // README: "services: { [name]: ServiceConfig }"; "Invalid options fail startup with InvalidConfigError".
    expect(result.names).toBeUndefined();
    expect(result.error?.code).toBe('BALLAST_INVALID_CONFIG');
  });

  test('an async discovery subscribe() that rejects fails startup without an unhandled rejection', async () => {
    const result = await startup({
      services: {
        users: {
          instances: [],
          discovery: {
            name: 'async-source',
            // A natural mistake: an async subscribe, whose connection fails.
            async subscribe() {
              throw new Error('registry unreachable');
            },
          },
        },
      },
      logger: false,
    });
    expect(result.error?.code).toBe('BALLAST_INVALID_CONFIG');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(crashes.map((e) => String(e))).toEqual([]);
  });
});

describe('statusPage options', () => {
  const services = { users: { instances: ['http://127.0.0.1:1'] } };

  // README: invalid options fail startup "naming the field as it is written in the module options".
  test.each([
    [{ token: '' }, 'statusPage.token'],
    [{ exposeMetadata: 'yes' }, 'statusPage.exposeMetadata'],
    [{ tokn: 's3cret' }, 'statusPage.tokn'],
  ])('statusPage %j fails startup naming %s', async (statusPage, field) => {
    expect((await startup({ services, statusPage })).error).toMatchObject({
      code: 'BALLAST_INVALID_CONFIG',
      field,
    });
  });

  test('a status page over no service at all names statusPage, not an internal argument', async () => {
    expect((await startup({ services: {}, statusPage: true })).error).toMatchObject({
      code: 'BALLAST_INVALID_CONFIG',
      field: 'statusPage',
    });
  });
});
