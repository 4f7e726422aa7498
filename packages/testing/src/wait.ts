/** Polls `predicate` every `intervalMs` until it holds; rejects with `message` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean,
  {
    timeoutMs = 5_000,
    intervalMs = 10,
    message = 'condition',
  }: { timeoutMs?: number; intervalMs?: number; message?: string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Kinds of handle that a closed gateway must not leave behind. */
const TRACKED = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout', 'PipeWrap', 'TTYWrap'] as const;

/** Counts the process's active handles by kind (sockets, servers, timers). */
export function activeHandles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) {
    if ((TRACKED as readonly string[]).includes(kind)) counts[kind] = (counts[kind] ?? 0) + 1;
  }
  return counts;
}

/**
 * Resolves once no tracked kind of handle is more numerous than in `baseline`; rejects naming
 * the extra handles if they are still there after `timeoutMs`.
 */
export async function expectNoHandlesBeyond(
  baseline: Record<string, number>,
  timeoutMs = 2_000,
): Promise<void> {
  const extra = () =>
    Object.entries(activeHandles())
      .filter(([kind, n]) => n > (baseline[kind] ?? 0))
      .map(([kind, n]) => `${kind} ${n} (was ${baseline[kind] ?? 0})`);
  try {
    await waitFor(() => extra().length === 0, { timeoutMs, message: 'open handles to close' });
  } catch {
    throw new Error(`open handles after close: ${extra().join(', ')}`);
  }
}

/**
 * Fails every test of the file during which an unhandled rejection or an uncaught exception
 * happened (the things that end a real process), instead of letting jest report them elsewhere
 * or not at all. Call once, at the top level of a test file.
 */
export function failOnProcessErrors(): void {
  const errors: unknown[] = [];
  const onError = (error: unknown) => errors.push(error);
  beforeAll(() => {
    process.on('unhandledRejection', onError);
    process.on('uncaughtException', onError);
  });
  afterAll(() => {
    process.off('unhandledRejection', onError);
    process.off('uncaughtException', onError);
  });
  afterEach(() => {
    expect(errors.splice(0)).toEqual([]);
  });
}
