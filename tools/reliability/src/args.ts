/** Reads `--name value` flags; `--flag` alone is `true`. Unknown flags are an error. */
export function parseArgs(
  argv: readonly string[],
  known: Readonly<Record<string, 'number' | 'boolean'>>,
): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]!.replace(/^--/, '');
    const kind = known[name];
    if (!argv[i]!.startsWith('--') || kind === undefined)
      throw new Error(
        `unknown argument ${argv[i]}; expected ${Object.keys(known)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    if (kind === 'boolean') {
      out[name] = true;
      continue;
    }
    const value = Number(argv[++i]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
    out[name] = value;
  }
  return out;
}
