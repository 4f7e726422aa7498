import axios, { type AxiosAdapter, type AxiosInstance, type InternalAxiosRequestConfig } from 'axios';

type Axios = Pick<typeof axios, 'defaults' | 'getAdapter'>;
/** axios's `getAdapter`, which takes the config too since the fetch adapter honours `config.env` (1.12). */
type GetAdapter = (spec: unknown, config: InternalAxiosRequestConfig) => AxiosAdapter;

/** The members of `config.env` the fetch adapter is built from, in axios's order. */
const FETCH_ENV = ['fetch', 'Request', 'Response', 'Blob'] as const;

/**
 * Turns a config's `adapter` (by default axios's list of names, `['xhr', 'http', 'fetch']`) into
 * the function that does the I/O, as axios itself would, so that the balanced adapter can wrap it.
 *
 * It uses the axios copy that made the instance. This package is CommonJS and loads axios's
 * CommonJS build; an application that imports axios as ESM made its instance with the ESM build,
 * whose adapters are the ones its plain requests use (and are faster). That copy is found with
 * `import()`, which cannot block: until it has loaded (a tick, the module being loaded already),
 * requests go through the CommonJS build's adapter, which works the same.
 */
export class AdapterResolver {
  private copy: Axios = axios;
  // The last adapter list resolved, the `config.env` members it was resolved with and its
  // function: every request of an instance names the same list and environment, and resolving
  // one walks axios's adapters.
  private lastSpec: readonly unknown[] = [];
  private lastEnv: readonly unknown[] = [];
  private lastAdapter: AxiosAdapter | undefined;

  constructor(instance: AxiosInstance) {
    if (madeBy(instance, axios)) return;
    import('axios').then(
      ({ default: esm }) => {
        if (!madeBy(instance, esm)) return;
        this.copy = esm;
        this.lastAdapter = undefined;
      },
      () => undefined, // no ESM build to find: the CommonJS one serves
    );
  }

  /**
   * The adapter function `config.adapter` names (or the instance's default list), for the
   * config's environment: the fetch adapter uses `config.env.fetch` (and `Request`, `Response`,
   * `Blob`) when given, as it does for a plain request.
   */
  resolve(config: InternalAxiosRequestConfig): AxiosAdapter {
    const spec = config.adapter ?? this.copy.defaults.adapter;
    if (typeof spec === 'function') return spec;
    const list: readonly unknown[] = Array.isArray(spec) ? spec : [spec];
    const env: unknown = config.env;
    if (this.lastAdapter !== undefined && sameItems(list, this.lastSpec) && sameEnv(env, this.lastEnv)) {
      return this.lastAdapter;
    }
    const adapter = (this.copy.getAdapter as GetAdapter)(spec, config);
    this.lastSpec = list.slice();
    this.lastEnv = FETCH_ENV.map((name) => envMember(env, name));
    this.lastAdapter = adapter;
    return adapter;
  }
}

/** Whether `copy` of axios made `instance`: their default request transform is the same function. */
function madeBy(instance: AxiosInstance, copy: Axios): boolean {
  const first = (transforms: unknown) => (Array.isArray(transforms) ? transforms[0] : transforms);
  return first(instance.defaults.transformRequest) === first(copy.defaults.transformRequest);
}

/** A member of `config.env` as axios's fetch adapter reads it: an own property, or undefined. */
function envMember(env: unknown, name: string): unknown {
  return typeof env === 'object' && env !== null && Object.hasOwn(env, name)
    ? (env as Record<string, unknown>)[name]
    : undefined;
}

/** Whether `env` has the members `last` holds (axios merges `env` into a new object per request). */
function sameEnv(env: unknown, last: readonly unknown[]): boolean {
  for (let i = 0; i < FETCH_ENV.length; i++) if (envMember(env, FETCH_ENV[i]!) !== last[i]) return false;
  return true;
}

function sameItems(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
