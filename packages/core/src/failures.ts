// Error codes of the connect phase (Node's system errors, undici's connect timeout): the
// upstream never saw a byte of the request. Shared by every layer that retries on another
// instance: the proxy engine and the axios client.
const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether `error` (by its `code`) is a failure to connect: refused, unreachable, unresolvable
 * or a connect timeout. Such a request never reached the instance, so sending it to another one
 * is safe whatever its method.
 */
export function isConnectFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECT_CODES.has(code);
}
