import path from 'node:path';

import { testExampleGateway } from '@ballast/testing';

testExampleGateway('Nest', path.join(__dirname, '../src/main.ts'));
