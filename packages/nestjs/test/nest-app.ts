import 'reflect-metadata';

import type { INestApplication, LoggerService, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { startUpstream, startUpstreams, type Upstream } from '@ballast/testing';

/** A real Nest application on 127.0.0.1, port 0. */
export interface ServedNest {
  readonly app: INestApplication;
  readonly url: string;
  close(): Promise<void>;
}

/** Options of `serveNest`: what `NestFactory.create` takes, with Nest's own logging off by default. */
export interface ServeOptions {
  readonly logger?: LoggerService | false;
  readonly rawBody?: boolean;
}

/**
 * Tracks upstreams and Nest applications created in a test and closes them all afterwards
 * (newest first), so a failed assertion never leaves a server running.
 */
export function createNestHarness() {
  const upstreams: Upstream[] = [];
  const apps: ServedNest[] = [];
  return {
    async upstreams(...args: Parameters<typeof startUpstreams>): Promise<Upstream[]> {
      const list = await startUpstreams(...args);
      upstreams.push(...list);
      return list;
    },
    async upstream(...args: Parameters<typeof startUpstream>): Promise<Upstream> {
      const upstream = await startUpstream(...args);
      upstreams.push(upstream);
      return upstream;
    },
    /** Creates and starts a Nest application of `module`. */
    async serve(module: Type<unknown>, options: ServeOptions = {}): Promise<ServedNest> {
      const app = await NestFactory.create(module, {
        logger: options.logger ?? false,
        rawBody: options.rawBody ?? false,
        abortOnError: false,
      });
      let closing: Promise<void> | undefined;
      const served: ServedNest = {
        app,
        url: '',
        close: () => (closing ??= app.close()),
      };
      apps.push(served);
      await app.listen(0, '127.0.0.1');
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      return Object.assign(served, { url });
    },
    async closeAll(): Promise<void> {
      while (apps.length > 0) await apps.pop()!.close();
      await Promise.all(upstreams.splice(0).map((u) => u.close()));
    },
  };
}

/** The instance list of a service: one `{ id: name, url }` per upstream. */
export const instancesOf = (list: readonly Upstream[]) => list.map((u) => ({ id: u.name, url: u.url }));

/** Startup fails: resolves with what NestFactory.create rejected with (throws if the app started). */
export async function startupError(module: Type<unknown>): Promise<unknown> {
  try {
    const app = await NestFactory.create(module, { logger: false, abortOnError: false });
    await app.close();
  } catch (error) {
    return error;
  }
  throw new Error('the application started');
}
