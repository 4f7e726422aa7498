import { readFileSync } from 'node:fs';
import path from 'node:path';

/** One runnable snippet of the documentation. */
export interface Snippet {
  /** From its marker: `<!-- run:NAME -->` just before the code block. */
  readonly name: string;
  /** Repository-relative path of the Markdown file. */
  readonly file: string;
  /** The code block's language tag: js, cjs, mjs or ts. */
  readonly lang: string;
  readonly code: string;
}

export const ROOT = path.resolve(__dirname, '../../..');
const MARKER = /<!-- run:([a-z0-9-]+) -->\s*```([a-z]+)\n([\s\S]*?)```/g;

/** Every `<!-- run:NAME -->` snippet of the given Markdown files. */
export function findSnippets(files: readonly string[]): Snippet[] {
  const found: Snippet[] = [];
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, file), 'utf8');
    for (const [, name, lang, code] of text.matchAll(MARKER))
      found.push({ name: name!, file, lang: lang!, code: code! });
  }
  return found;
}

/**
 * The documentation uses ports 3000–3999 on 127.0.0.1. A test cannot count on those being free,
 * so each one becomes a free port, the same one wherever it appears; nothing else changes.
 */
export function remapPorts(code: string, ports: ReadonlyMap<number, number>): string {
  return code.replace(/\b3\d{3}\b/g, (literal) => String(ports.get(Number(literal)) ?? literal));
}

/** The distinct documentation ports (3000–3999) a snippet uses. */
export function portsOf(code: string): number[] {
  return [...new Set([...code.matchAll(/\b3\d{3}\b/g)].map(([literal]) => Number(literal)))];
}
