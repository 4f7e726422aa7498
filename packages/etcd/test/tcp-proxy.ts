// A TCP proxy to an etcd on a loopback port the test controls, for outages a real etcd cannot
// be made to have on cue: `freeze()` stops forwarding both ways while every connection stays
// open (a partition not yet noticed, or a frozen etcd); `cut()` drops every connection and
// refuses new ones until `restore()`; `retarget()` drops them and sends new ones to another
// etcd (one restarted without its data).
import net from 'node:net';

export interface TcpProxy {
  readonly url: string;
  freeze(): void;
  cut(): void;
  restore(): void;
  retarget(url: string): void;
  close(): Promise<void>;
}

export async function tcpProxy(target: string): Promise<TcpProxy> {
  let upstreamUrl = new URL(target);
  let frozen = false;
  let refusing = false;
  const sockets = new Set<net.Socket>();
  const dropAll = () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const server = net.createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => void (frozen || upstream.write(chunk)));
    upstream.on('data', (chunk) => void (frozen || client.write(chunk)));
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    freeze: () => void (frozen = true),
    cut: () => {
      refusing = true;
      dropAll();
    },
    restore: () => void (refusing = false),
    retarget: (url) => {
      upstreamUrl = new URL(url);
      dropAll();
    },
    close: async () => {
      dropAll();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
