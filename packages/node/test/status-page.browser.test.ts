/**
 * The status page in a real browser: Debian's Chromium (never a downloaded one) driven by
 * playwright-core, against a live balancer with real upstream traffic.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createBalancer } from '@ballast/core';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createStatusHandler } from '../src';
import { cleanup, gateway, listen, named, respond, send } from './helpers';

/**
 * The DOM globals the `page.evaluate` and `waitForFunction` callbacks use. They run in the
 * browser; this package is compiled without DOM types, so they are declared here, typed as far
 * as the tests need.
 */
interface DomNode {
  textContent: string | null;
  className: string;
  getAttribute(name: string): string | null;
}
declare const document: {
  title: string;
  querySelector(selector: string): DomNode | null;
  querySelectorAll(selector: string): { length: number };
  getElementById(id: string): DomNode | null;
};
declare function getComputedStyle(element: unknown): { boxShadow: string };

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = path.join(__dirname, '../tmp/browser');
const TOKEN = 'browser-test-token';

jest.setTimeout(60_000);

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is not installed at ${CHROMIUM}: the status page browser test needs Debian's ` +
        '`chromium` package (apt-get install -y chromium). It never downloads a browser.',
    );
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  mkdirSync(OUTPUT, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
});

afterEach(cleanup);

/** A page that records console errors and uncaught exceptions. */
async function openPage(url: string): Promise<{ page: Page; errors: string[]; polls: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors: string[] = [];
  const polls: string[] = [];
  page.on('request', (request) => {
    if (request.url().includes('/snapshot.json')) polls.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url);
  return { page, errors, polls };
}

/** Requests through the gateway every 15 ms until stopped. */
function traffic(url: string): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      await send(url, { path: `/users/${i}` }).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

test('shows every instance live, and an ejected instance changes on the page', async () => {
  const failing = { b: false };
  const a = await named('alpha', 5);
  const b = await listen((_req, res) =>
    failing.b ? respond(res, 503, 'down') : setTimeout(() => respond(res, 200, 'bravo'), 20),
  );
  const c = await named('charlie', 2);
  const balancer = createBalancer({
    service: 'users',
    strategy: 'least-connections',
    instances: [
      { id: 'alpha', url: a.url },
      { id: 'bravo', url: b.url },
      { id: 'charlie', url: c.url },
    ],
    health: { outlier: { consecutiveFailures: 3, maxEjectionPercent: 50, baseEjectionMs: 60_000 } },
  });
  const gw = await gateway(balancer, { retries: 0 });
  const handler = createStatusHandler(balancer, { token: TOKEN });
  const status = await listen(handler);
  const stop = traffic(gw.url);
  try {
    const { page, errors, polls } = await openPage(`${status.url}/?token=${TOKEN}`);
    const row = (id: string) => page.locator(`tr[data-instance="${id}"]`);
    for (const id of ['alpha', 'bravo', 'charlie']) {
      await row(id).waitFor();
      await expect(row(id).getAttribute('data-state')).resolves.toBe('healthy');
    }
    await expect(page.locator('section[data-service="users"] h2').textContent()).resolves.toBe('users');
    await expect(page.locator('.strategy').textContent()).resolves.toBe('strategy least-connections');

    // Live: the request rate of alpha rises above zero while traffic flows.
    await page.waitForFunction(
      () => Number(document.querySelector('tr[data-instance="alpha"] .rps')?.textContent) > 0,
    );
    await page.waitForFunction(() =>
      /ms$/.test(document.querySelector('tr[data-instance="alpha"] .p99')?.textContent ?? ''),
    );

    failing.b = true;
    await page.waitForSelector('tr[data-instance="bravo"][data-state="ejected"]', { timeout: 10_000 });
    await expect(row('bravo').getAttribute('data-level')).resolves.toBe('trouble');
    // Colour and words: the badge says what happened and the notes say why.
    await expect(row('bravo').locator('.badge').textContent()).resolves.toContain('ejected');
    await expect(row('bravo').locator('.reasons').textContent()).resolves.toContain('ejected');
    await expect(row('alpha').getAttribute('data-level')).resolves.toBe('ok');
    const tint = await row('bravo').evaluate((el) => getComputedStyle(el).boxShadow);
    expect(tint).not.toBe('none');
    // The state change history, opened by the reader, stays open across refreshes.
    await page.locator('summary').nth(1).click();
    await expect(page.locator('ol.history').last().textContent()).resolves.toContain('bravo: ');
    const shown = await page.locator('#conn').textContent();
    await page.waitForFunction((before) => document.getElementById('conn')!.textContent !== before, shown);
    await expect(page.locator('details').nth(1).getAttribute('open')).resolves.toBe('');
    await expect(page.locator('ol.history').last().textContent()).resolves.toMatch(
      /bravo: healthy → ejected/,
    );

    // After the first answer the page asks for the last 6 seconds only and splices them onto the
    // history it has: the chart grows past what one such answer holds.
    await page.waitForFunction(
      () =>
        (
          document.querySelector('tr[data-instance="alpha"] polyline.c-rps')?.getAttribute('points') ?? ''
        ).split(' ').length >= 9,
      undefined,
      { timeout: 20_000 },
    );
    expect(polls.filter((u) => u.endsWith('/snapshot.json?points=6')).length).toBeGreaterThan(3);
    expect(polls[0]).toMatch(/\/snapshot\.json$/);
    await page.waitForTimeout(1_500);
    await page.screenshot({ path: path.join(OUTPUT, 'status-page.png'), fullPage: true });
    if (process.env.BALLAST_UPDATE_SCREENSHOT === '1') {
      // docs/status-page.png: some history on the charts first.
      await page.waitForTimeout(25_000);
      await page.screenshot({ path: path.join(__dirname, '../../../docs/status-page.png'), fullPage: true });
    }
    expect(await page.evaluate(() => document.getElementById('conn')!.className)).toBe('');
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    await stop();
    handler.close();
  }
});

test('markup in an instance id, a service name or metadata is shown as text, never run', async () => {
  const markup = '<img src=x onerror="document.title=\'pwned\'">';
  const a = await named('a');
  const balancer = createBalancer({
    service: '<b>svc</b>',
    instances: [{ id: markup, url: a.url, metadata: { note: '<script>document.title="pwned"</script>' } }],
  });
  const gw = await gateway(balancer);
  expect((await send(gw.url, { path: '/' })).status).toBe(200);
  const handler = createStatusHandler(balancer, { exposeMetadata: true });
  const status = await listen(handler);
  try {
    const { page, errors } = await openPage(`${status.url}/`);
    await page.waitForSelector('tr[data-instance]');
    await expect(page.locator('tr[data-instance] .id').textContent()).resolves.toBe(markup);
    await expect(page.locator('h2').textContent()).resolves.toBe('<b>svc</b>');
    await expect(page.locator('tr[data-instance] .url').last().textContent()).resolves.toContain('<script>');
    const injected = await page.evaluate(() => ({
      img: document.querySelectorAll('img').length,
      bold: document.querySelectorAll('main b').length,
      scripts: document.querySelectorAll('script').length,
      title: document.title,
    }));
    expect(injected).toEqual({ img: 0, bold: 0, scripts: 1, title: 'Ballast status' });
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    handler.close();
  }
});

test('with a wrong token the browser gets the bare 401 and no page', async () => {
  const balancer = createBalancer({ service: 'users', instances: ['http://127.0.0.1:1'] });
  const handler = createStatusHandler(balancer, { token: TOKEN });
  const status = await listen(handler);
  try {
    const page = await browser.newPage();
    const response = await page.goto(`${status.url}/?token=wrong`);
    expect(response?.status()).toBe(401);
    await expect(page.locator('body').textContent()).resolves.toBe('Unauthorized\n');
    await page.close();
  } finally {
    handler.close();
    balancer.close();
  }
});

test('a balancer fed by discovery shows its source, and a failing source as a warning', async () => {
  let fail: (error: Error) => void = () => {};
  const balancer = createBalancer({
    service: 'users',
    discovery: {
      name: 'dns:SRV:_http._tcp.users.test',
      subscribe(sink) {
        sink.update([{ id: 'a', url: 'http://127.0.0.1:1' }]);
        fail = (error) => sink.error(error);
        return () => {};
      },
    },
  });
  const handler = createStatusHandler(balancer);
  const status = await listen(handler);
  try {
    const { page, errors } = await openPage(`${status.url}/`);
    const badge = page.locator('.badge.discovery');
    await expect(badge.textContent()).resolves.toMatch(/dns:SRV:_http\._tcp\.users\.test ok$/);
    fail(new Error('SERVFAIL'));
    await page.waitForFunction(() =>
      /failing \(SERVFAIL\)/.test(document.querySelector('.badge.discovery')?.textContent ?? ''),
    );
    expect(await badge.getAttribute('class')).toContain('warn');
    await expect(page.locator('tr[data-instance="a"]').count()).resolves.toBe(1);
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    handler.close();
    balancer.close();
  }
});

test('a closed balancer is shown closed, serving nothing, not as it last served', async () => {
  const balancer = createBalancer({
    service: 'users',
    instances: ['http://127.0.0.1:1', 'http://127.0.0.1:2'],
  });
  const handler = createStatusHandler(balancer);
  const status = await listen(handler);
  try {
    const { page, errors } = await openPage(`${status.url}/`);
    await expect(page.locator('.service-head').textContent()).resolves.toContain('2 of 2 instances serving');
    balancer.close();
    await page.waitForFunction(() => document.querySelector('.badge.closed') !== null);
    const head = await page.locator('.service-head').textContent();
    expect(head).toContain('0 of 2 instances serving');
    expect(head).toContain('closed');
    expect(await page.locator('section.service').getAttribute('class')).toContain('level-trouble');
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    handler.close();
  }
});

test('a poll that never gets an answer shows the page as disconnected, and it recovers', async () => {
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const handler = createStatusHandler(balancer);
  const stall = { on: false };
  // A gateway that stops answering (a stalled process, a dropped link): the requests just hang.
  const status = await listen((req, res) => {
    if (stall.on && req.url!.startsWith('/snapshot.json')) return;
    handler(req, res);
  });
  try {
    const { page, errors } = await openPage(`${status.url}/`);
    await page.locator('tr[data-instance="a"]').waitFor();
    await page.waitForFunction(() => document.getElementById('conn')!.textContent!.startsWith('live'));
    stall.on = true;
    await page.waitForFunction(() => document.getElementById('conn')!.className === 'down', undefined, {
      timeout: 10_000,
    });
    await expect(page.locator('#conn').textContent()).resolves.toMatch(
      /^disconnected \(no answer in \d+ s\)/,
    );
    stall.on = false;
    await page.waitForFunction(() => document.getElementById('conn')!.className === '', undefined, {
      timeout: 10_000,
    });
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    handler.close();
    balancer.close();
  }
});

test('an id re-added while its old instance drains: the new row charts its own traffic, not the draining one', async () => {
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const handler = createStatusHandler(balancer);
  const status = await listen(handler);
  const held = balancer.pick();
  balancer.remove('a');
  balancer.add({ id: 'a', url: 'http://127.0.0.1:2' });
  // Steady traffic on the new instance, every second of the test.
  const traffic = setInterval(() => balancer.pick().release({ ok: true, latencyMs: 2 }), 20);
  try {
    const { page, errors } = await openPage(`${status.url}/`);
    await page.waitForFunction(() => document.querySelectorAll('tr[data-instance="a"]').length === 2);
    await new Promise((resolve) => setTimeout(resolve, 11_000));
    // The server's own view of the new instance: a request in each of the last ten full seconds.
    const own = handler.snapshot().services[0]!.instances.find((i) => i.state !== 'draining')!;
    expect(own.series.requests.slice(-11, -1).every((n) => n > 0)).toBe(true);
    // The page's chart of it: one point per second, y = 27 for a second without requests.
    const chart = (state: string) =>
      page
        .locator(`tr[data-instance="a"]${state} svg.spark polyline.c-rps`)
        .evaluateAll((lines) =>
          lines.flatMap((line) =>
            ((line as unknown as DomNode).getAttribute('points') ?? '')
              .split(' ')
              .map((p) => Number(p.split(',')[1])),
          ),
        );
    const fresh = await chart(':not([data-state="draining"])');
    expect(fresh.slice(-10).filter((y) => y === 27)).toEqual([]);
    // The draining instance served nothing since: its chart stays flat.
    const draining = await chart('[data-state="draining"]');
    expect(draining.filter((y) => y !== 27)).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  } finally {
    clearInterval(traffic);
    held.release({ ok: true, latencyMs: 2 });
    handler.close();
    balancer.close();
  }
});

test('a draining instance is not counted as serving; with nothing serving the service shows trouble', async () => {
  const balancer = createBalancer({ service: 'users', instances: [{ id: 'a', url: 'http://127.0.0.1:1' }] });
  const handler = createStatusHandler(balancer);
  const status = await listen(handler);
  const held = balancer.pick();
  balancer.remove('a');
  const { page, errors } = await openPage(`${status.url}/`);
  await page.waitForSelector('tr[data-instance="a"][data-state="draining"]');
  expect(await page.locator('.service-head').textContent()).toContain('0 of 1 instances serving');
  expect(await page.locator('section.service').getAttribute('class')).toContain('level-trouble');
  expect(errors).toEqual([]);
  await page.close();
  held.release({ ok: true, latencyMs: 1 });
  handler.close();
  balancer.close();
});
