import { startEtcd, type Etcd } from '@ballast/testing';
import { Etcd3 } from 'etcd3';

/**
 * One real etcd (Debian's etcd-server, free loopback ports, a temporary data dir) for a test
 * file: started before its tests and closed after them. `closers` run after each test, newest
 * first; `direct` is a plain etcd3 client on it, made on first use.
 */
export function useEtcd() {
  let etcd: Etcd | undefined;
  let direct: Etcd3 | undefined;
  const closers: Array<() => unknown> = [];
  beforeAll(async () => {
    etcd = await startEtcd();
  }, 30_000);
  afterEach(async () => {
    while (closers.length > 0) await closers.pop()!();
  });
  afterAll(async () => {
    direct?.close();
    await etcd?.close();
  });
  return {
    closers,
    get etcd(): Etcd {
      return etcd!;
    },
    get direct(): Etcd3 {
      return (direct ??= new Etcd3({ hosts: etcd!.url }));
    },
  };
}
