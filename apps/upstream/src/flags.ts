import process from 'node:process';
import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * The command-line flags of an example program, all string-valued: a missing value or an unknown
 * flag is one line on stderr (`<program>: ...`) and exit code 1, not a stack trace.
 */
export function parseFlags<const T extends string>(
  program: string,
  names: readonly T[],
): Partial<Record<T, string>> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const name of names) options[name] = { type: 'string' };
  try {
    return parseArgs({ options }).values as Partial<Record<T, string>>;
  } catch (err) {
    console.error(`${program}: ${(err as Error).message}`);
    return process.exit(1);
  }
}

/**
 * An environment variable of the examples; an empty one (`PORT=`) counts as unset, as `@ballast/node`
 * reads `BALLAST_INSTANCES`: it means "no value", not a value to reject or a port 0.
 */
export function envValue(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}
