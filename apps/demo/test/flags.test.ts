import path from 'node:path';

import { runToExit } from '@ballast/testing';

const DEMO = path.join(__dirname, '..', 'index.mjs');

/** Runs `npm start -- ...args` as npm does (node apps/demo/index.mjs), to its exit. */
const demo = (args: string[]) => runToExit(DEMO, { args, timeoutMs: 30_000 });

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
