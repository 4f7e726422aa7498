import { liveSummary } from '../src/summary';

/**
 * The little of a terminal the summary uses: text, newlines, `ESC[nF` (up n lines, to column 0)
 * and `ESC[J` (erase to the end of the screen). stdout and stderr share the screen. Text written
 * over a line that was not erased is appended to it, so a missing erase shows.
 */
const ESC = '\x1b';

function terminal() {
  const rows: string[] = [''];
  let row = 0;
  const write = (text: string) => {
    for (let i = 0; i < text.length; i++) {
      const up = new RegExp(`^${ESC}\\[(\\d+)F`).exec(text.slice(i));
      if (up !== null) {
        row = Math.max(0, row - Number(up[1]));
        i += up[0].length - 1;
      } else if (text.startsWith(`${ESC}[J`, i)) {
        rows.length = row + 1;
        rows[row] = '';
        i += 2;
      } else if (text[i] === '\n') {
        row += 1;
        rows[row] ??= '';
      } else {
        rows[row] = (rows[row] ?? '') + text[i];
      }
    }
  };
  return { write, screen: () => rows.filter((line, i) => line !== '' || i < rows.length - 1) };
}

describe('the live summary on a terminal', () => {
  test('is redrawn in place, and log lines printed between redraws stay on the screen above it', () => {
    const term = terminal();
    const live = liveSummary({ out: term.write, err: term.write, tty: true });
    live.draw(['users (adaptive)', '  fast healthy', '  phoenix healthy']);
    live.draw(['users (adaptive)', '  fast healthy', '  phoenix healthy']);
    expect(term.screen()).toEqual(['users (adaptive)', '  fast healthy', '  phoenix healthy']);

    live.log('warn  ballast: instance ejected instance=phoenix\n');
    live.draw(['users (adaptive -> peak-ewma)', '  fast healthy', '  phoenix ejected']);
    live.log('info  ballast: instance restored instance=phoenix\n');
    live.draw(['users (adaptive -> peak-ewma)', '  fast healthy', '  phoenix slow-start']);
    live.draw(['users (adaptive -> peak-ewma)', '  fast healthy', '  phoenix healthy']);
    expect(term.screen()).toEqual([
      'warn  ballast: instance ejected instance=phoenix',
      'info  ballast: instance restored instance=phoenix',
      'users (adaptive -> peak-ewma)',
      '  fast healthy',
      '  phoenix healthy',
    ]);
  });

  test('not on a terminal: every summary and log line is printed in order, with no escape codes', () => {
    const out: string[] = [];
    const live = liveSummary({ out: (t) => out.push(t), err: (t) => out.push(t), tty: false });
    live.draw(['a']);
    live.log('warn x\n');
    live.draw(['b']);
    expect(out.join('')).toBe('a\nwarn x\nb\n');
  });
});
