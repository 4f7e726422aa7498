// Child process of the proxy benchmark: the upstream servers every proxy forwards to.
//
// One process holds all of them so that their CPU time never counts as the proxy's, and so that
// "direct" and every proxied row load the same single event loop. A GET is answered with a small
// JSON body; a POST body is read to its end and answered with its length, which lets the parent
// check that a proxy forwarded all of it.
//
// Usage (forked with an IPC channel): node upstreams.mjs <count>. Sends { ports } once listening;
// exits on a "stop" message or when the parent goes away.
import http from 'node:http';
import process from 'node:process';

const count = Number(process.argv[2] ?? 3);

function serve(index) {
  const greeting = JSON.stringify({ upstream: index, ok: true });
  const server = http.createServer((req, res) => {
    let received = 0;
    req.on('data', (chunk) => {
      received += chunk.length;
    });
    req.on('end', () => {
      const body = req.method === 'POST' ? JSON.stringify({ upstream: index, received }) : greeting;
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  // Idle proxies keep their pooled connections between loads: closing them after Node's default
  // 5 s would make the next load start with reconnects (and expose proxies to a reuse race).
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 121_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

const servers = await Promise.all(Array.from({ length: count }, (_, i) => serve(i)));
process.send({ ports: servers.map((server) => server.address().port) });

function stop() {
  for (const server of servers) {
    server.closeAllConnections();
    server.close();
  }
  process.disconnect?.();
}
process.on('message', (message) => {
  if (message === 'stop') stop();
});
process.on('disconnect', () => process.exit(0));
