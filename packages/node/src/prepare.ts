import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { HookError, ProxyError } from './errors';
import { buildRequestHeaders, hasBody, originForm, type BodyKind } from './headers';
import type { ProxyConfig } from './options';
import { BufferedBody, RequestBody, smallBodyLength } from './request-body';
import type { UpstreamRequest } from './types';

/** What one exchange sends upstream, the same on every attempt. */
export interface PreparedRequest {
  readonly upstream: UpstreamRequest;
  readonly body: RequestBody | BufferedBody | Buffer | string | undefined;
  readonly key: string | undefined;
  /** Whether the method that goes upstream (a hook may change it) may be retried once sent. */
  readonly idempotent: boolean;
}

/**
 * Builds the upstream request once per exchange: affinity key, path rewrite, filtered headers,
 * the `onProxyRequest` hook, then the body (read whole first if it is small and of known length;
 * see `BufferedBody`). A throwing hook throws a `HookError` (a 502) before
 * the client's body is touched.
 */
export function prepareRequest(
  config: ProxyConfig,
  req: IncomingMessage,
  bodyOption: Buffer | string | Readable | undefined,
  /** This request's own answer (`ForwardOptions`); undefined asks the proxy's option. */
  trustForwarded: boolean | undefined,
  onBodyError: (error: Error) => void,
): PreparedRequest {
  let key: string | undefined;
  if (config.key !== undefined) {
    const hook = config.key;
    const value = runHook('key', () => hook(req));
    if (typeof value === 'string') key = value;
  }
  let path = req.url ?? '/';
  // Rewrites and hooks see the path an absolute-form target (`GET http://host/api`) names.
  if (path.charCodeAt(0) !== 47 /* / */) path = originForm(path);
  if (config.pathRewrite !== undefined) {
    const rewrite = config.pathRewrite;
    const original = path;
    path = runHook('pathRewrite', () => {
      const rewritten = rewrite(original, req);
      if (typeof rewritten !== 'string') throw new TypeError('pathRewrite must return a string');
      return rewritten;
    });
  }
  // Node decodes `chunked` only. Another coding would go upstream unlabelled (Transfer-Encoding is
  // hop-by-hop) with its bytes still coded, a body the upstream cannot read; so would a body a
  // parser re-sends (`body`), which undid the chunking only as well.
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined && coding.trim().toLowerCase() !== 'chunked') {
    throw new ProxyError('BALLAST_BAD_REQUEST', `Unsupported transfer coding: ${coding}`);
  }
  const sized = typeof bodyOption === 'string' || Buffer.isBuffer(bodyOption);
  const kind: BodyKind = bodyOption === undefined ? 'original' : sized ? 'sized' : 'stream';
  const length = sized ? Buffer.byteLength(bodyOption) : 0;
  let trusted = trustForwarded ?? config.trustForwarded;
  if (typeof trusted === 'function') {
    const hook = trusted;
    trusted = runHook('trustForwarded', () => hook(req)) === true;
  }
  const upstream: UpstreamRequest = {
    method: req.method ?? 'GET',
    path,
    headers: buildRequestHeaders(req, config.xForwarded, config.changeOrigin, kind, length, trusted),
  };
  if (config.onProxyRequest !== undefined) {
    const hook = config.onProxyRequest;
    runHook('onProxyRequest', () => hook(upstream, req));
  }

  let body: PreparedRequest['body'];
  const source = sized ? undefined : (bodyOption ?? (hasBody(req) ? req : undefined));
  // A body read to its end before the proxy got it (a body parser ran first) has no bytes and
  // no 'end' left: waiting for them would hang the request, and sending nothing would hand the
  // upstream a request without its body.
  if (source?.readableEnded === true) {
    throw new ProxyError(
      'BALLAST_UPSTREAM_ERROR',
      'The request body was already read; pass it to forward() as `body`',
    );
  }
  if (sized) body = bodyOption;
  else if (source === req && smallBodyLength(req, config.replayBufferBytes) !== undefined) {
    body = new BufferedBody(req, onBodyError);
  } else if (source !== undefined) {
    const stream = new RequestBody(source, config.replayBufferBytes);
    stream.onSourceError = onBodyError;
    body = stream;
  }
  return { upstream, body, key, idempotent: config.retryMethods.has(upstream.method.toUpperCase()) };
}

function runHook<T>(name: string, hook: () => T): T {
  try {
    return hook();
  } catch (error) {
    throw new HookError(name, error);
  }
}
