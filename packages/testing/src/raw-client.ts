import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import net from 'node:net';
import { gzipSync } from 'node:zlib';

/** What a raw-socket client got back. */
export interface RawAnswer {
  readonly answer: string;
  /** Whether the server closed the connection, rather than the client giving up. */
  readonly closedByServer: boolean;
  /** When the first byte of the answer came, ms after the request started (-1: none). */
  readonly answeredAfterMs: number;
}

/**
 * Writes `head`, then `frame('x')` every `everyMs` (one byte of body, e.g. wrapped as a chunk),
 * for at most `forMs`, on a raw socket to `url`: a client that trickles its upload.
 */
export function trickle(
  url: string,
  head: Buffer | string,
  frame: (byte: string) => string,
  everyMs: number,
  forMs: number,
): Promise<RawAnswer> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  const started = Date.now();
  let answeredAt = -1;
  const answer: Buffer[] = [];
  let gaveUp = false;
  socket.write(head);
  const timer = setInterval(() => {
    if (!socket.destroyed && socket.writable) socket.write(frame('x'));
  }, everyMs);
  socket.on('data', (chunk: Buffer) => {
    if (answeredAt < 0) answeredAt = Date.now() - started;
    answer.push(chunk);
  });
  socket.on('error', () => {});
  const giveUp = setTimeout(() => {
    gaveUp = true;
    socket.destroy();
  }, forMs);
  return new Promise((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({
        answer: Buffer.concat(answer).toString('latin1'),
        closedByServer: !gaveUp,
        answeredAfterMs: answeredAt,
      });
    });
  });
}

/** One raw request (bytes Node's client would refuse to send); resolves with the raw answer. */
export function rawRequest(url: string, bytes: Buffer | string): Promise<string> {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  const answer: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => {
    answer.push(chunk);
    // One answer is enough.
    if (/\r\n\r\n/.test(Buffer.concat(answer).toString('latin1'))) setTimeout(() => socket.destroy(), 200);
  });
  socket.on('error', () => {});
  socket.write(bytes);
  return new Promise((resolve) => {
    socket.on('close', () => resolve(Buffer.concat(answer).toString('latin1')));
    setTimeout(() => socket.destroy(), 3_000).unref();
  });
}

/** A request listener that keeps each request's body in `bodies` and answers `ok`. */
export function recordBodies(bodies: Buffer[]): RequestListener {
  return (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks));
      res.end('ok');
    });
  };
}

/**
 * A POST whose body is labelled `Transfer-Encoding: gzip, chunked` (Node accepts it and decodes
 * the chunked coding only): the bytes of one request, as a raw client sends them.
 */
export function gzipChunkedUpload(contentType: string): Buffer {
  const coded = gzipSync('hello world');
  return Buffer.concat([
    Buffer.from(
      `POST /upload HTTP/1.1\r\nHost: a\r\nContent-Type: ${contentType}\r\n` +
        `Transfer-Encoding: gzip, chunked\r\n\r\n${coded.length.toString(16)}\r\n`,
    ),
    coded,
    Buffer.from('\r\n0\r\n\r\n'),
  ]);
}
