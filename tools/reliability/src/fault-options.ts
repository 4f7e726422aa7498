import type { FaultRunOptions } from './fault-run';
import { RECOVERY_WINDOW_MS } from './gateway';

/** One fault run as the CI suite and `fault-report.ts` make it: about 6 s at 100 requests/s. */
export const FAULT_RUN: FaultRunOptions = {
  rate: 100,
  warmupMs: 700,
  holdMs: 2_500,
  afterMs: 1_500,
  recoveryTimeoutMs: RECOVERY_WINDOW_MS + 1_000,
};
