import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createProxy } from '../src';
import { activeHandles, expectNoHandlesBeyond } from '@ballast/testing';

async function listenOn(server: net.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

it('a mix of faults under concurrency: one release per pick, in-flight 0, no handles left after close', async () => {
  const baseline = activeHandles();
  const problems: unknown[] = [];
  const onProblem = (e: unknown) => problems.push(e);
  process.on('uncaughtException', onProblem);
  process.on('unhandledRejection', onProblem);
  const sockets = new Set<net.Socket>();
  let n = 0;
  // Each connection misbehaves its own way, in turn.
  const faulty = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', () => {
      const kind = n++ % 7;
      if (kind === 0) socket.destroy();
      else if (kind === 1) socket.end('HTTP/1.1 200 OK\r\nContent-Le');
      else if (kind === 2)
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => socket.destroy());
      else if (kind === 3)
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', () =>
          setTimeout(() => socket.destroy(), 5),
        );
      else if (kind === 4) socket.write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy');
      else if (kind === 5) socket.write('garbage\r\n\r\n');
      // kind 6: never answers
    });
  });
  const good = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('good'));
  });
  const instances = [await listenOn(faulty), await listenOn(good)];
  const proxy = createProxy(
    { strategy: 'round-robin', instances, health: { outlier: false, threshold: 0 } },
    { timeoutMs: 300, idleTimeoutMs: 300, retries: 1 },
  );
  let picks = 0;
  let releases = 0;
  proxy.balancer.on('pick', () => picks++);
  proxy.balancer.on('release', () => releases++);
  const gw = http.createServer(proxy);
  const url = await listenOn(gw);
  const methods = ['GET', 'POST', 'PUT', 'DELETE'];
  const results = await Promise.all(
    Array.from(
      { length: 80 },
      (_, i) =>
        new Promise<string>((resolve) => {
          const req = http.request(
            `${url}/${i}`,
            { method: methods[i % 4], agent: false, headers: i % 2 ? { 'content-length': 4 } : {} },
            (res) => {
              res.resume();
              res.on('end', () =>
                resolve(
                  res.statusCode === 400
                    ? `400 ${methods[i % 4]} ${res.headers['content-type']}`
                    : String(res.statusCode),
                ),
              );
              res.on('error', () => resolve('reset'));
            },
          );
          req.on('error', () => resolve('reset'));
          req.end(i % 2 ? 'body' : undefined);
        }),
    ),
  );
  expect(results.filter((r) => !/^(200|502|503|504|reset)$/.test(r))).toEqual([]);
  await new Promise((r) => setTimeout(r, 100));
  const inflight = proxy.balancer.snapshot().instances.reduce((s, i) => s + i.inflight, 0);
  expect({ inflight, releases }).toEqual({ inflight: 0, releases: picks });
  gw.closeAllConnections();
  await new Promise((r) => gw.close(r));
  await proxy.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => faulty.close(r));
  good.closeAllConnections();
  await new Promise((r) => good.close(r));
  await expectNoHandlesBeyond(baseline);
  process.off('uncaughtException', onProblem);
  process.off('unhandledRejection', onProblem);
  expect(problems).toEqual([]);
});
