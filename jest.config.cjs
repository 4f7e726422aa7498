// `npm test`: one Jest process running every workspace package that has a jest.config.* as a project.
const fs = require('node:fs');
const path = require('node:path');

const CONFIG = /^jest\.config\.(c?js|mjs|ts|json)$/;

const projects = ['packages', 'apps', 'tools'].flatMap((group) => {
  const groupDir = path.join(__dirname, group);
  if (!fs.existsSync(groupDir)) return [];
  return fs
    .readdirSync(groupDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const config = fs.readdirSync(path.join(groupDir, entry.name)).find((file) => CONFIG.test(file));
      return config ? [`<rootDir>/${group}/${entry.name}/${config}`] : [];
    });
});

/** @type {import('jest').Config} */
module.exports = {
  projects,
  // A package without tests yet must not fail the whole run.
  passWithNoTests: true,
};
