/**
 * Issue 9's faults, each injected into one of three upstream processes during steady mixed
 * traffic (100 requests/s, one POST in four) through a real Express gateway: every request gets
 * a complete response, every GET succeeds (through retries), the faulty instance is taken out
 * within the detection window and is back within the recovery window after the fault ends, and
 * nothing is left behind: no lease in flight, no connection to an upstream, no handle or timer.
 */
import { activeHandles, expectNoHandlesBeyond } from '@ballast/testing';

import { FAULT_RUN } from '../src/fault-options';
import { runFault } from '../src/fault-run';
import { FAULTS } from '../src/faults';
import { startFleet, type UpstreamProcess } from '../src/fleet';
import { DETECTION_WINDOW_MS, RECOVERY_WINDOW_MS } from '../src/gateway';

let fleet: UpstreamProcess[] = [];
let baseline: Record<string, number> = {};

beforeAll(async () => {
  fleet = await startFleet(3);
  baseline = activeHandles();
}, 30_000);

const connections = async () => (await Promise.all(fleet.map((u) => u.stats()))).map((s) => s.connections);

afterAll(async () => {
  await Promise.all(fleet.map((u) => u.stop()));
});

describe.each(FAULTS.map((fault) => [fault.name, fault] as const))('fault %s', (_name, fault) => {
  test(`${fault.description}: every request answered, GETs succeed, ejected and back, nothing leaked`, async () => {
    const victim = fleet[1]!;
    const run = await runFault(fault, fleet, victim, FAULT_RUN);
    try {
      const { tally } = run;
      expect(tally.sent).toBeGreaterThan(300);
      // No request vanished, hung or got a truncated body.
      expect(tally.errors).toEqual([]);
      expect(tally.lost).toBe(0);
      // Idempotent requests succeed through retries.
      expect(tally.get.failed).toBe(0);
      // A POST the faulty instance may have received is not retried: it is answered 502/503/504.
      for (const status of Object.keys(tally.errorStatuses)) expect(['502', '503', '504']).toContain(status);

      expect(run.detectedAs).toMatch(/^(ejected|unhealthy)$/);
      expect(run.detectionMs).toBeLessThanOrEqual(DETECTION_WINDOW_MS);
      expect(run.recoveryMs).toBeLessThanOrEqual(RECOVERY_WINDOW_MS);
      expect(run.servedAfterRecovery).toBeGreaterThan(0);
      expect(run.inflightAfter).toBe(0);
    } finally {
      await run.close();
    }
    // The gateway is closed: no connection to an upstream (counted by the upstreams themselves),
    // no socket, server or timer of its own in this process.
    const deadline = Date.now() + 3_000;
    let open = await connections();
    while (open.some((n) => n > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = await connections();
    }
    expect(open).toEqual([0, 0, 0]);
    await expectNoHandlesBeyond(baseline, 3_000);
  }, 30_000);
});
