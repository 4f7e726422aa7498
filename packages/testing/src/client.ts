import http from 'node:http';
import { WebSocket } from 'ws';

import { readAll } from './upstream';

export interface RequestOptions {
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders;
  readonly body?: Buffer | string;
  /** Default: a fresh connection per request (`agent: false`), so nothing is left open. */
  readonly agent?: http.Agent | false;
  readonly signal?: AbortSignal;
}

export interface Response {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly text: string;
  /** The body parsed as JSON (throws if it is not). */
  json<T = unknown>(): T;
}

/** One HTTP request with node:http; resolves with the whole response. */
export function request(url: string, options: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: options.method ?? 'GET',
        headers: options.headers,
        agent: options.agent ?? false,
        signal: options.signal,
      },
      (res) => {
        readAll(res).then((body) => {
          const text = body.toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text,
            json: <T>() => JSON.parse(text) as T,
          });
        }, reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Opens a WebSocket to `url` (ws://...), sends `message` and resolves with the first message
 * received; the socket is closed before resolving.
 */
export function webSocketEcho(url: string, message: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no WebSocket echo within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.once('open', () => ws.send(message));
    ws.once('message', (data) => {
      clearTimeout(timer);
      ws.once('close', () => resolve(String(data)));
      ws.close();
    });
    ws.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
