import 'reflect-metadata';

import { InvalidConfigError } from '@ballast/core';
import { request } from '@ballast/testing';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

import { BallastModule } from '../src';
import { createNestHarness } from './nest-app';

// Bad input to the module's static methods (plain JavaScript, or options read from elsewhere)
// must fail with an InvalidConfigError naming what is wrong, never a TypeError from inside
// Nest's module builder.
const h = createNestHarness();
afterEach(() => h.closeAll());

/** What `build` threw, or what starting an app importing what it returns rejected with. */
async function failure(build: () => unknown): Promise<unknown> {
  let imported: unknown;
  try {
    imported = build();
  } catch (error) {
    return error;
  }
  @Module({ imports: [imported as never] })
  class AppModule {}
  try {
    const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
    await app.close();
  } catch (error) {
    return error;
  }
  throw new Error('the application started');
}

const call =
  (method: 'forRoot' | 'forRootAsync' | 'forFeature', ...args: unknown[]) =>
  () =>
    (BallastModule[method] as (...a: unknown[]) => unknown)(...args);

test.each<[string, string, () => unknown]>([
  ['forRoot()', 'BallastModule options', call('forRoot')],
  ['forRoot(null)', 'BallastModule options', call('forRoot', null)],
  ['forRootAsync()', 'BallastModule.forRootAsync options', call('forRootAsync')],
  ['forRootAsync({})', 'BallastModule.forRootAsync options', call('forRootAsync', {})],
  ['forRootAsync({ useFactory: 42 })', 'useFactory', call('forRootAsync', { useFactory: 42 })],
  ['forRootAsync({ useClass: "x" })', 'useClass', call('forRootAsync', { useClass: 'x' })],
  ['forFeature()', 'BallastModule.forFeature', call('forFeature')],
  ["forFeature('users')", 'BallastModule.forFeature', call('forFeature', 'users')],
  ['forFeature([42])', 'BallastModule.forFeature[0]', call('forFeature', [42])],
])('%s fails with InvalidConfigError naming %s', async (_label, field, build) => {
  const error = await failure(build);
  expect(error).toBeInstanceOf(InvalidConfigError);
  expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field });
});

@Controller('hello')
class HelloController {
  @Get()
  hello() {
    return { hello: 'world' };
  }
}

test.each(['/', '//'])(
  'statusPage.path %j is refused at startup instead of taking over every route of the app',
  async (path) => {
    @Module({
      imports: [BallastModule.forRoot({ services: { u: { instances: [] } }, statusPage: { path } })],
      controllers: [HelloController],
    })
    class AppModule {}
    let error: unknown;
    try {
      const served = await h.serve(AppModule);
      // Were it accepted, the app's own route must still answer.
      expect((await request(`${served.url}/hello`)).json()).toEqual({ hello: 'world' });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'BALLAST_INVALID_CONFIG', field: 'statusPage.path' });
  },
);
