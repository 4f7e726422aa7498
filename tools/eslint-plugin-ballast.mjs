// Local ESLint rules for the house boundaries (used by eslint.config.mjs).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The `packages/<name>` folder a path lies in, or undefined outside packages/. */
function packageOf(file) {
  const [group, name, ...rest] = path.relative(root, file).split(path.sep);
  return group === 'packages' && name && rest.length > 0 ? `packages/${name}` : undefined;
}

/** @type {import('eslint').Rule.RuleModule} */
const noRelativeCrossPackage = {
  meta: {
    type: 'problem',
    docs: {
      description:
        'Forbid relative imports that leave a package or reach into one from outside (use the public @ballast/* entry)',
    },
    schema: [],
    messages: {
      outside:
        "'{{source}}' reaches into {{target}}. Import the package's public entry (@ballast/<name>) instead of its files.",
    },
  },
  create(context) {
    const filename = context.physicalFilename ?? context.filename;
    const from = packageOf(filename);
    // Code (src/, test/) must stay inside its package; a package's config files may reach the
    // shared root presets (../../jest.preset.cjs) but still not another package.
    const isCode =
      from !== undefined &&
      /^(src|test)$/.test(path.relative(path.join(root, from), filename).split(path.sep)[0]);

    function check(node) {
      const source = node?.value;
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const resolved = path.resolve(path.dirname(filename), source);
      const to = packageOf(resolved);
      // Entering a package from anywhere else (apps, tools, another package), or code leaving its own.
      if ((to !== undefined && to !== from) || (isCode && to !== from)) {
        const target = to ?? (path.relative(root, resolved) || '.');
        context.report({ node, messageId: 'outside', data: { source, target } });
      }
    }

    return {
      ImportDeclaration: (node) => check(node.source),
      ExportAllDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node.source),
      TSImportEqualsDeclaration: (node) =>
        node.moduleReference.type === 'TSExternalModuleReference' && check(node.moduleReference.expression),
      CallExpression: (node) =>
        node.callee.type === 'Identifier' &&
        node.callee.name === 'require' &&
        node.arguments[0]?.type === 'Literal' &&
        check(node.arguments[0]),
    };
  },
};

export default {
  meta: { name: 'eslint-plugin-ballast' },
  rules: { 'no-relative-cross-package': noRelativeCrossPackage },
};
