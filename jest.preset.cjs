// Shared Jest settings. Each package's jest.config.cjs spreads this object and adds its
// displayName; the root jest.config.cjs runs every package as one of its `projects`.

/** ESM-only dependencies that must be compiled to CommonJS for Jest on Node 20 (NestJS 12). */
const esmOnlyPackages = ['@nestjs'];

/** swc options shared by the TypeScript and JavaScript transforms. */
const swc = (parser) => ({
  swcrc: false,
  sourceMaps: 'inline',
  module: { type: 'commonjs' },
  jsc: {
    target: 'es2022',
    parser,
    keepClassNames: true,
    // NestJS: legacy decorators plus emitted design:paramtypes metadata, without which
    // constructor injection silently receives undefined.
    transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: true },
  },
});

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  moduleFileExtensions: ['ts', 'tsx', 'js', 'mjs', 'cjs', 'json', 'node'],
  transform: {
    '^.+\\.(t|mt|ct)sx?$': ['@swc/jest', swc({ syntax: 'typescript', tsx: false, decorators: true })],
    '^.+\\.(m|c)?jsx?$': ['@swc/jest', swc({ syntax: 'ecmascript', jsx: false, decorators: true })],
  },
  transformIgnorePatterns: [`/node_modules/(?!(?:${esmOnlyPackages.join('|')})/)`],
  // Workspace packages resolve to their sources, so tests never need a build and never see stale dist/.
  moduleNameMapper: {
    '^@ballast/([a-z0-9-]+)$': '<rootDir>/../../packages/$1/src/index.ts',
  },
  collectCoverageFrom: ['<rootDir>/src/**/*.ts', '!<rootDir>/src/**/*.test.ts', '!<rootDir>/src/**/*.d.ts'],
  coveragePathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/tmp/'],
  restoreMocks: true,
};
