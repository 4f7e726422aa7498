import path from 'node:path';

import { testExampleGateway } from '@ballast/testing';

testExampleGateway('Express', path.join(__dirname, '../src/main.ts'));
