import path from 'node:path';

import { testExampleGateway } from '@ballast/testing';

testExampleGateway('Koa', path.join(__dirname, '../src/main.ts'));
