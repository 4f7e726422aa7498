// The baseline: the least a correct node:http reverse proxy over undici's BalancedPool does.
// Hop-by-hop headers are dropped both ways (RFC 9110 §7.6.1), both bodies stream, and a failed
// upstream request is answered 502. No retries, no timeouts of its own, no health: what Ballast
// adds is exactly what this lacks, so the ratio between the two is the price of those features.
import { BalancedPool } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers) {
  const kept = {};
  for (const name in headers) {
    if (!HOP_BY_HOP.has(name)) kept[name] = headers[name];
  }
  return kept;
}

/** A `(req, res)` handler forwarding to `urls` in BalancedPool's weighted round-robin; `.close()`. */
export function createUndiciHandler(urls) {
  const pool = new BalancedPool(urls);

  function undiciProxy(req, res) {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    // stream() writes the upstream body straight into `res`, with no Readable in between. The
    // usual request() + stream.pipeline() spent about twice the CPU per request here: on Node 20
    // every pipeline() creates and aborts an AbortController (a DOMException with a stack trace).
    pool
      .stream(
        { method: req.method, path: req.url, headers: endToEnd(req.headers), body: hasBody ? req : null },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, endToEnd(headers));
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.statusCode = 502;
        res.end();
      });
  }

  return Object.assign(undiciProxy, { close: () => pool.close() });
}
