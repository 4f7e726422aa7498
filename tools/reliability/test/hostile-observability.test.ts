/**
 * The status page and the metrics under hostile instance data and unauthenticated requests,
 * through the real Express adapter: without the token a 401 that reveals nothing; markup and
 * exposition-format syntax in instance ids and metadata come out as inert text; metadata stays
 * hidden (and out of metric labels) unless the user allows it.
 */
import { createBalancer } from '@ballast/core';
import { status } from '@ballast/express';
import { collectMetrics } from '@ballast/prometheus';
import { closeServer, listen, request } from '@ballast/testing';
import express from 'express';
import http from 'node:http';
import { Registry } from 'prom-client';

const HOSTILE_ID = '<img src=x onerror=alert(1)>"} 1\n# EOF\nballast_evil{a="';
const SECRET_METADATA = { token: 'sk-live-do-not-leak', note: '</script><script>alert(2)</script>' };

test('status page and metrics: 401 without the token, hostile ids inert, metadata hidden', async () => {
  const users = createBalancer({
    service: 'users',
    instances: [{ id: HOSTILE_ID, url: 'http://127.0.0.1:9', metadata: SECRET_METADATA }],
  });
  users.pick().release({ ok: true, latencyMs: 2 });
  const registry = new Registry();
  const detach = collectMetrics(users, { registry });
  const page = status(users, { token: 'correct horse' });
  const app = express();
  app.use('/ballast', page);
  app.get('/metrics', async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  const server = http.createServer(app);
  const url = await listen(server);
  try {
    // No token, a wrong one, one of another length: the same 401, nothing of the pool in it.
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: 'Bearer correct horse!' },
    ]) {
      for (const path of ['/ballast/', '/ballast/snapshot.json']) {
        const res = await request(`${url}${path}`, { headers });
        expect(res.status).toBe(401);
        expect(res.text).not.toMatch(/users|onerror|sk-live|127\.0\.0\.1/);
      }
    }

    // With the token: the page itself carries no data (it fetches snapshot.json and renders with
    // textContent), the snapshot is JSON with the id as a string, and metadata is absent.
    const html = (await request(`${url}/ballast/?token=correct%20horse`)).text;
    expect(html).not.toContain('onerror=alert');
    expect(html).not.toContain('sk-live');
    const snapshot = await request(`${url}/ballast/snapshot.json`, {
      headers: { authorization: 'Bearer correct horse' },
    });
    expect(snapshot.headers['content-type']).toMatch(/^application\/json/);
    expect(snapshot.text).not.toContain('sk-live');
    const parsed = snapshot.json<{ services: { instances: { id: string; metadata?: unknown }[] }[] }>();
    expect(parsed.services[0]!.instances[0]!.id).toBe(HOSTILE_ID);
    expect(parsed.services[0]!.instances[0]!.metadata).toBeUndefined();

    // Metrics: the id is escaped inside its label, so the exposition stays well-formed: every
    // line is a comment or `name{labels} value`, and no injected series appears.
    const metrics = (await request(`${url}/metrics`)).text;
    expect(metrics).not.toContain('sk-live');
    expect(metrics).not.toMatch(/^ballast_evil/m);
    for (const line of metrics.split('\n').filter((l) => l !== '')) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) .*|[a-z_]+(\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\})? [-+0-9.eE]+|[a-z_]+(\{.*\})? (NaN|[+-]Inf))$/,
      );
    }
  } finally {
    await closeServer(server);
    page.close();
    detach();
    users.close();
  }
});
