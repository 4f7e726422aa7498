import vm from 'node:vm';
import { createBalancer } from '@ballast/core';
import type { StatusSnapshot } from '../src';
import { STATUS_PAGE } from '../src/status-page';
import { ServiceRecorder } from '../src/status-recorder';

/**
 * The page's own script, run in a VM with a minimal DOM: each `fetch` of snapshot.json answers the
 * next snapshot given; `setTimeout` callbacks are run by hand. Returns the charts' titles, which
 * say how many points each chart has and its maximum.
 */
function runPage() {
  const script = /<script>([\s\S]*)<\/script>/.exec(STATUS_PAGE)![1]!;
  type Node = {
    tag: string;
    className: string;
    textContent: string;
    children: Node[];
    attrs: Record<string, string>;
    open: boolean;
    appendChild(child: Node): Node;
    setAttribute(name: string, value: string): void;
    addEventListener(): void;
    replaceChildren(...children: Node[]): void;
  };
  const node = (tag: string): Node => ({
    tag,
    className: '',
    textContent: '',
    children: [],
    attrs: {},
    open: false,
    appendChild(child) {
      this.children.push(child);
      return child;
    },
    setAttribute(name, value) {
      this.attrs[name] = String(value);
    },
    addEventListener() {},
    replaceChildren(...children) {
      this.children = children;
    },
  });
  const conn = node('span');
  const root = node('main');
  const answers: StatusSnapshot[] = [];
  const urls: string[] = [];
  const timers: (() => void)[] = [];
  const context = vm.createContext({
    location: { search: '', pathname: '/' },
    document: {
      getElementById: (id: string) => (id === 'conn' ? conn : root),
      createElement: node,
      createElementNS: (_ns: string, tag: string) => node(tag),
    },
    fetch: (url: string) => {
      urls.push(url);
      const data = answers.shift()!;
      return Promise.resolve({
        ok: true,
        status: 200,
        json: () => Promise.resolve(JSON.parse(JSON.stringify(data))),
      });
    },
    setTimeout: (fn: () => void, ms: number) => {
      if (ms < 4000) timers.push(fn); // the next poll; the 4 s abort timer is never due here
      return 0;
    },
    clearTimeout: () => undefined,
    AbortController,
    URLSearchParams,
    Date,
    Object,
    String,
    Number,
    Math,
    Error,
  });
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  /** The titles of the charts of each instance row, by the row's data-instance. */
  const charts = () => {
    const out: Record<string, string[]> = {};
    const walk = (n: Node, row?: string) => {
      const id = n.tag === 'tr' && n.attrs['data-instance'] !== undefined ? n.attrs['data-instance'] : row;
      if (n.tag === 'title' && id !== undefined) (out[id] ??= []).push(n.textContent);
      for (const c of n.children) walk(c, id);
    };
    walk(root);
    return out;
  };
  return {
    conn,
    urls,
    charts,
    async start(first: StatusSnapshot) {
      answers.push(first);
      vm.runInContext(script, context);
      await settle();
    },
    async poll(next: StatusSnapshot) {
      answers.push(next);
      timers.shift()!();
      await settle();
    },
  };
}

/**
 * README: the page asks for all of the series once, then for the last 6 seconds on each poll and
 * "splices them onto what it has". An instance that moved to another URL under the same id is
 * removed and added again (core discovery: "it is another endpoint: what was learned about the
 * old one does not apply"), and its snapshot.json series starts afresh. The page's charts must
 * show the new endpoint's series, not the old endpoint's history with the new points appended.
 */
test('an id moved to a new endpoint between two polls: its charts start afresh, as its series does', async () => {
  let nowMs = 2_000_000;
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const recorder = new ServiceRecorder(balancer, 300, () => nowMs);
  const snapshot = (points: number): StatusSnapshot => ({
    generatedAt: Date.now(),
    windowSeconds: 10,
    historySeconds: 300,
    second: Math.floor(nowMs / 1000),
    services: [recorder.status(false, nowMs, points)],
  });
  // The old endpoint: 30 seconds of traffic, every request failed.
  for (let s = 0; s < 30; s++) {
    for (let i = 0; i < 4; i++) balancer.pick().release({ ok: false, latencyMs: 900 });
    nowMs += 1_000;
  }
  const page = runPage();
  await page.start(snapshot(300));
  expect(page.charts().a).toEqual([
    expect.stringMatching(/^req\/s over the last 30 s/),
    expect.stringMatching(/^error % over the last 30 s, max 100\.0$/),
    expect.stringMatching(/^p99 ms over the last 30 s/),
  ]);

  // Within one poll period: the id moves to another endpoint, which serves 5 good requests.
  nowMs += 300;
  balancer.remove('a');
  balancer.add({ id: 'a', url: 'http://127.0.0.1:2' });
  for (let i = 0; i < 5; i++) balancer.pick().release({ ok: true, latencyMs: 2 });
  nowMs += 500;
  const next = snapshot(6);
  const served = next.services[0]!.instances[0]!.series;
  expect(served).toEqual({ requests: [5], failures: [0], p99Ms: [expect.any(Number)] }); // the server's view
  await page.poll(next);
  expect(page.urls[1]).toBe('/snapshot.json?points=6');
  // The page: one point, no error, as served (a single point is charted as it is).
  expect(page.charts().a).toEqual([
    'req/s over the last 1 s, max 5.0',
    'error % over the last 1 s, max 0.0',
    expect.stringMatching(/^p99 ms over the last 1 s/),
  ]);
  recorder.detach();
  balancer.close();
});
