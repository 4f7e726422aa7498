import { spawnSync } from 'node:child_process';
import path from 'node:path';

const DEMO = path.join(__dirname, '..', 'index.mjs');

/** Runs `npm start -- ...args` as npm does (node apps/demo/index.mjs), to its exit. */
function demo(args: string[]): { status: number | null; output: string } {
  const run = spawnSync(process.execPath, [DEMO, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('a bad flag stops the demo with one clear line, not a stack trace', () => {
  test.each([
    [['--rate'], /^demo: .*--rate/m],
    [['--ratee', '5'], /^demo: .*--ratee/m],
    [['--adapter', 'nest', '--strategy', 'bogus'], /^demo: .*"bogus"/m],
  ])(
    '%j',
    (args, message) => {
      const { status, output } = demo(args);
      expect(status).toBe(1);
      expect(output).toMatch(message);
      expect(output).not.toMatch(/^\s+at /m);
    },
    40_000,
  );
});
