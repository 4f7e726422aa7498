// ESLint flat config. Formatting is Prettier's job (`npm run format`); no rule here touches layout.
// House rules from STYLE.md and ARCHITECTURE.md are enforced below, each with its reason.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

import ballast from './tools/eslint-plugin-ballast.mjs';

const TS = ['**/*.ts', '**/*.mts', '**/*.cts', '**/*.tsx'];
const TESTS = ['**/*.test.ts', '**/*.spec.ts', '**/__tests__/**', '**/test/**'];

/** Deep imports of workspace packages: only the public entry `@ballast/<name>` is an API. */
const NO_DEEP_IMPORTS = {
  regex: '^@ballast/[^/]+/(?!package\\.json$).+',
  message: 'Import the public entry (@ballast/<name>), never files of a package (src/, dist/, ...).',
};

export default defineConfig(
  {
    ignores: [
      '**/node_modules/**',
      '**/dist/**',
      '**/coverage/**',
      '**/tmp/**',
      '**/.nx/**',
      'docs/api/**',
      '**/*.d.ts',
    ],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },

  js.configs.recommended,
  ...tseslint.configs.recommended,

  // Type-aware rules for TypeScript: promises must be awaited or handled on purpose, since a lost
  // rejection in a proxy or health check is a silent outage.
  {
    files: TS,
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },

  // Everywhere.
  {
    plugins: { ballast },
    rules: {
      'no-restricted-imports': ['error', { patterns: [NO_DEEP_IMPORTS] }],
      'ballast/no-relative-cross-package': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-const': 'error',
    },
  },

  // Scripts and configs run by Node.
  {
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    languageOptions: { globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },

  // Packages are libraries: no console output; logging goes through the injected `logger`.
  {
    files: ['packages/*/src/**'],
    ignores: TESTS,
    rules: { 'no-console': 'error' },
  },

  // @ballast/core runs anywhere JavaScript does and stays deterministic under test.
  {
    files: ['packages/core/src/**'],
    ignores: TESTS,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            NO_DEEP_IMPORTS,
            {
              regex: '^node:',
              message: 'Core runs anywhere JavaScript does: no Node built-ins (put it in @ballast/node).',
            },
            {
              regex: '^(?!\\.{1,2}(/|$)|node:)',
              message: 'Core has no runtime dependencies: only relative imports of its own files.',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'Core loads nothing at run time: no dynamic import().' },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'require', 'module', 'exports', '__dirname', '__filename', 'global'].map(
          (name) => ({
            name,
            message: `Core must not touch the Node global \`${name}\`; put it in @ballast/node.`,
          }),
        ),
        ...[
          'setTimeout',
          'setInterval',
          'setImmediate',
          'clearTimeout',
          'clearInterval',
          'clearImmediate',
        ].map((name) => ({
          name,
          message: `Core owns no timers (\`${name}\`): derive time from the injected clock; schedule in @ballast/node.`,
        })),
      ],
    },
  },
  {
    files: ['packages/core/src/**'],
    ignores: [...TESTS, 'packages/core/src/clock.ts', 'packages/core/src/random.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: 'Read time through the injected clock (see clock.ts).' },
        {
          object: 'performance',
          property: 'now',
          message: 'Read time through the injected clock (see clock.ts).',
        },
        {
          object: 'Math',
          property: 'random',
          message: 'Draw randomness through the injected random (see random.ts).',
        },
      ],
    },
  },

  // Tests may be loose where it helps readability.
  {
    files: TESTS,
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
);
