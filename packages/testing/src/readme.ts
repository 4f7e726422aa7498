import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { transformSync } from '@swc/core';

/** What a README example printed. */
export interface ExampleOutput {
  readonly logged: unknown[][];
  readonly errors: unknown[][];
}

/**
 * Runs the runnable example of a README, so documentation that stops working fails a test: the
 * ```ts block after `<!-- example:<name> -->`, compiled to CommonJS, with `modules` standing in
 * for the packages it imports by name (the sources under test, not a build) and `console`
 * captured. The example must end with `main().catch(...)`; this resolves once main() settles.
 */
export async function runReadmeExample(
  readmePath: string,
  name: string,
  modules: Readonly<Record<string, unknown>>,
): Promise<ExampleOutput> {
  const readme = readFileSync(readmePath, 'utf8');
  const match = new RegExp(`<!-- example:${name} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``).exec(readme);
  if (match === null) throw new Error(`${readmePath}: no \`\`\`ts block after <!-- example:${name} -->`);
  const { code } = transformSync(match[1]!, {
    jsc: {
      // Legacy decorators with metadata, as NestJS examples need; code without decorators is unaffected.
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  });
  if (!code.includes('main().catch(')) throw new Error(`the ${name} example must end with main().catch(...)`);
  // Hand back main()'s promise so the caller can wait for the example's shutdown.
  const body = code.replace('main().catch(', 'return main().catch(');
  const logged: unknown[][] = [];
  const errors: unknown[][] = [];
  const fakeConsole = {
    log: (...args: unknown[]) => logged.push(args),
    error: (...args: unknown[]) => errors.push(args),
  };
  const requireNear = createRequire(readmePath);
  const fakeRequire = (id: string): unknown => (Object.hasOwn(modules, id) ? modules[id] : requireNear(id));
  const run = new Function('require', 'console', 'exports', body) as (...args: unknown[]) => Promise<void>;
  await run(fakeRequire, fakeConsole, {});
  return { logged, errors };
}
