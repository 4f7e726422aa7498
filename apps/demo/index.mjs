#!/usr/bin/env node
// `npm start`: runs the demo (src/main.ts) straight from the TypeScript sources through the
// workspace's swc hook, so it needs no build after `npm ci`. See src/main.ts for the flags.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
require('../../tools/sim/register.cjs');
require('./src/main.ts');
