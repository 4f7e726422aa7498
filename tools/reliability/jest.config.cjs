/** @type {import('jest').Config} */
module.exports = {
  ...require('../../jest.preset.cjs'),
  // No package.json here: the fault and hostile-input suites are not a workspace package.
  displayName: '@ballast/reliability',
};
