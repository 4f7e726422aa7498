// The Prometheus text format (0.0.4), parsed strictly, for tests that read `registry.metrics()`.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser of the Prometheus text format 0.0.4 (label values with \\, \" and \n escapes). */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  const lines = text.split('\n');
  if (lines[lines.length - 1] !== '') throw new Error('no trailing newline');
  for (const line of lines.slice(0, -1)) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    let i = 0;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (name === undefined) throw new Error(`bad name: ${JSON.stringify(line)}`);
    i = name.length;
    const labels: Record<string, string> = {};
    if (line[i] === '{') {
      i++;
      while (line[i] !== '}') {
        const ln = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i))?.[0];
        if (ln === undefined || line[i + ln.length] !== '=' || line[i + ln.length + 1] !== '"')
          throw new Error(`bad label at ${i}: ${JSON.stringify(line)}`);
        i += ln.length + 2;
        let v = '';
        for (;;) {
          const c = line[i];
          if (c === undefined) throw new Error(`unterminated: ${JSON.stringify(line)}`);
          if (c === '"') break;
          if (c === '\\') {
            const n = line[i + 1];
            if (n === 'n') v += '\n';
            else if (n === '\\') v += '\\';
            else if (n === '"') v += '"';
            else throw new Error(`bad escape: ${JSON.stringify(line)}`);
            i += 2;
          } else {
            v += c;
            i++;
          }
        }
        i++;
        if (ln in labels) throw new Error(`duplicate label ${ln}`);
        labels[ln] = v;
        if (line[i] === ',') i++;
      }
      i++;
    }
    if (line[i] !== ' ') throw new Error(`no space before value: ${JSON.stringify(line)}`);
    const rest = line.slice(i + 1);
    if (!/^(\S+)( -?\d+)?$/.test(rest)) throw new Error(`bad value: ${JSON.stringify(line)}`);
    const value = Number(rest.split(' ')[0] === '+Inf' ? Infinity : rest.split(' ')[0]);
    if (Number.isNaN(value) && rest.split(' ')[0] !== 'NaN') throw new Error(`bad number: ${line}`);
    out.push({ name, labels, value });
  }
  return out;
}

/** Every sample of `name` whose labels include `labels`. */
export function find(samples: Sample[], name: string, labels: Record<string, string>): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
}

/** The one sample of `name` whose labels include `labels` (throws on several), or undefined. */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const found = find(samples, name, labels);
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
