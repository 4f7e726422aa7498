#!/usr/bin/env node
// `npm run sim`: runs every scenario against every strategy of @ballast/core and writes
// docs/simulation.md and docs/simulation.svg. `npm run sim -- --help` lists the options.
require('./register.cjs');

process.exitCode = require('./src/main.ts').main(process.argv.slice(2));
