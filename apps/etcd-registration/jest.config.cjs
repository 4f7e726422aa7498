// No package.json here on purpose: a new workspace would need a package-lock.json entry.
/** @type {import('jest').Config} */
module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: '@ballast/etcd-registration',
};
