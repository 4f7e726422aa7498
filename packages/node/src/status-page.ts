import { createHash } from 'node:crypto';

/**
 * The status page: one self-contained HTML document (no CDN, no fonts, no images), its CSS and
 * script inline and allowed by hash in the Content-Security-Policy, so nothing else may run.
 * The script polls `snapshot.json` beside the page every 800 ms and rebuilds the view with
 * `createElement` and `textContent` only: data never reaches an HTML parser, so an instance id
 * containing markup shows as text.
 */

const STYLE = `
:root { color-scheme: light dark; --ok: #1a7f37; --warn: #9a6700; --bad: #cf222e; --muted: #6e7781;
  --bg: #ffffff; --fg: #1f2328; --line: #d0d7de; --tint-bad: #ffebe9; --tint-warn: #fff8c5; }
@media (prefers-color-scheme: dark) { :root { --bg: #0d1117; --fg: #e6edf3; --line: #30363d;
  --tint-bad: #3d1418; --tint-warn: #3b2e0a; --muted: #8b949e; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; align-items: baseline; gap: 1rem; padding: .75rem 1.25rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.2rem; margin: 0; }
h2 { font-size: 1.1rem; margin: 0; }
#conn { color: var(--muted); }
#conn.down { color: var(--bad); font-weight: 600; }
main { padding: 0 1.25rem 2rem; }
section.service { margin-top: 1.25rem; }
.service-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: .75rem; }
.meta { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin-top: .5rem; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num { text-align: right; white-space: nowrap; }
td.name { min-width: 14rem; }
tr.level-trouble { background: var(--tint-bad); box-shadow: inset 4px 0 var(--bad); }
tr.level-warn { background: var(--tint-warn); box-shadow: inset 4px 0 var(--warn); }
.id { font-weight: 600; word-break: break-all; }
.url { color: var(--muted); font-size: .8rem; word-break: break-all; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 1rem; font-size: .8rem; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.badge.ok { color: var(--ok); } .badge.warn { color: var(--warn); } .badge.trouble { color: var(--bad); }
.reasons { font-size: .85rem; }
svg.spark { width: 120px; height: 28px; display: block; }
svg.spark polyline { fill: none; stroke-width: 1.5; }
.c-rps { stroke: #0969da; } .c-err { stroke: var(--bad); } .c-lat { stroke: #8250df; }
.charts { display: flex; gap: .5rem; }
.chart-label { font-size: .7rem; color: var(--muted); }
details { margin-top: .5rem; } summary { cursor: pointer; color: var(--muted); }
ol.history { margin: .25rem 0; padding-left: 1.25rem; font-size: .85rem; }
.empty { color: var(--muted); }
`;

const SCRIPT = `
(function () {
  'use strict';
  var token = new URLSearchParams(location.search).get('token');
  var base = location.pathname.slice(-1) === '/' ? location.pathname : location.pathname + '/';
  var url = base + 'snapshot.json';
  var headers = token ? { authorization: 'Bearer ' + token } : {};
  var SVG = 'http://www.w3.org/2000/svg';
  var SYMBOL = { ok: '\\u2714', warn: '\\u26a0', trouble: '\\u2716' };
  var conn = document.getElementById('conn');
  var root = document.getElementById('services');

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function num(value, digits, unit) {
    return value === null || value === undefined ? '\\u2013' : Number(value).toFixed(digits) + (unit || '');
  }
  function time(at) {
    return new Date(at).toLocaleTimeString();
  }
  function cell(row, text, cls) {
    var td = el('td', cls, text);
    row.appendChild(td);
    return td;
  }
  // A sparkline of one series; null points are gaps.
  function spark(values, cls, label) {
    var w = 120, h = 28, max = 0, i;
    for (i = 0; i < values.length; i++) if (values[i] !== null && values[i] > max) max = values[i];
    var svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('class', 'spark');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + h);
    svg.setAttribute('role', 'img');
    var title = document.createElementNS(SVG, 'title');
    title.textContent = label + ' over the last ' + values.length + ' s, max ' + num(max, 1);
    svg.appendChild(title);
    var points = [];
    var flush = function () {
      if (points.length > 0) {
        var line = document.createElementNS(SVG, 'polyline');
        line.setAttribute('class', cls);
        line.setAttribute('points', points.length === 1 ? points[0] + ' ' + points[0] : points.join(' '));
        svg.appendChild(line);
      }
      points = [];
    };
    var step = values.length > 1 ? w / (values.length - 1) : w;
    for (i = 0; i < values.length; i++) {
      if (values[i] === null) { flush(); continue; }
      var y = max > 0 ? h - 1 - (values[i] / max) * (h - 2) : h - 1;
      points.push((i * step).toFixed(1) + ',' + y.toFixed(1));
    }
    flush();
    return svg;
  }
  function chart(values, cls, label) {
    var box = el('div');
    box.appendChild(spark(values, cls, label));
    box.appendChild(el('div', 'chart-label', label));
    return box;
  }
  // Which history lists the reader opened, so that a refresh keeps them open.
  var opened = Object.create(null);
  function history(key, title, entries, describe) {
    var details = el('details');
    details.open = opened[key] === true;
    details.addEventListener('toggle', function () { opened[key] = details.open; });
    details.appendChild(el('summary', '', title + ' (' + entries.length + ')'));
    if (entries.length === 0) details.appendChild(el('div', 'empty', 'none yet'));
    else {
      var list = el('ol', 'history');
      for (var i = entries.length - 1; i >= 0; i--) list.appendChild(el('li', '', describe(entries[i])));
      details.appendChild(list);
    }
    return details;
  }
  function instanceRow(inst) {
    var row = el('tr', 'level-' + inst.level);
    row.setAttribute('data-instance', inst.id);
    row.setAttribute('data-state', inst.state);
    row.setAttribute('data-level', inst.level);
    var name = cell(row, '', 'name');
    name.appendChild(el('div', 'id', inst.id));
    name.appendChild(el('div', 'url', inst.url + (inst.zone ? ' \\u00b7 zone ' + inst.zone : '')));
    if (inst.metadata) {
      var pairs = Object.keys(inst.metadata).map(function (k) { return k + '=' + inst.metadata[k]; });
      if (pairs.length) name.appendChild(el('div', 'url', pairs.join(' ')));
    }
    var state = cell(row, '');
    state.appendChild(el('span', 'badge state ' + inst.level, SYMBOL[inst.level] + ' ' + inst.state));
    cell(row, num(inst.health, 2), 'num health');
    cell(row, inst.inflight, 'num inflight');
    cell(row, num(inst.recent.requestsPerSecond, 1), 'num rps');
    cell(row, num(inst.recent.errorRate * 100, 1, ' %'), 'num errors');
    cell(row, num(inst.recent.p50Ms, 1, ' ms'), 'num p50');
    cell(row, num(inst.recent.p99Ms, 1, ' ms'), 'num p99');
    // The charts end with the last full second: the current one is still filling.
    var s = inst.series;
    var full = function (values) { return values.length > 1 ? values.slice(0, -1) : values; };
    var errors = s.requests.map(function (n, i) { return n > 0 ? (100 * s.failures[i]) / n : null; });
    var charts = el('div', 'charts');
    charts.appendChild(chart(full(s.requests), 'c-rps', 'req/s'));
    charts.appendChild(chart(full(errors), 'c-err', 'error %'));
    charts.appendChild(chart(full(s.p99Ms), 'c-lat', 'p99 ms'));
    cell(row, '').appendChild(charts);
    cell(row, inst.reasons.length ? inst.reasons.join(', ') : 'ok', 'reasons');
    return row;
  }
  var COLUMNS = ['Instance', 'State', 'Health', 'In-flight', 'Req/s', 'Errors', 'p50', 'p99', 'Last minutes', 'Notes'];
  function serviceSection(svc) {
    var section = el('section', 'service level-' + svc.level);
    section.setAttribute('data-service', svc.service);
    var head = el('div', 'service-head');
    head.appendChild(el('h2', '', svc.service));
    var strategy = svc.strategy === svc.activeStrategy ? svc.strategy : svc.strategy + ' \\u2192 ' + svc.activeStrategy;
    head.appendChild(el('span', 'meta strategy', 'strategy ' + strategy));
    // A draining instance was removed: it finishes its requests but takes no new one.
    var healthy = svc.instances.filter(function (i) { return i.level !== 'trouble' && i.state !== 'draining'; }).length;
    head.appendChild(el('span', 'meta', healthy + ' of ' + svc.instances.length + ' instances serving'));
    if (svc.closed) head.appendChild(el('span', 'badge closed trouble', SYMBOL.trouble + ' closed: refusing every request'));
    if (svc.panic) head.appendChild(el('span', 'badge trouble', SYMBOL.trouble + ' panic: balancing over all instances'));
    if (svc.discovery) {
      var d = svc.discovery;
      var dLevel = d.state === 'failing' ? 'warn' : 'ok';
      var dText = d.state === 'failing' ? ' failing (' + d.lastError + '), keeping the last list' : ' ' + d.state;
      head.appendChild(el('span', 'badge discovery ' + dLevel, SYMBOL[dLevel] + ' ' + d.source + dText));
    }
    section.appendChild(head);
    var table = el('table');
    var tr = el('tr');
    COLUMNS.forEach(function (c) { tr.appendChild(el('th', '', c)); });
    table.appendChild(el('thead')).appendChild(tr);
    var body = el('tbody');
    svc.instances.forEach(function (inst) { body.appendChild(instanceRow(inst)); });
    if (svc.instances.length === 0) body.appendChild(el('tr')).appendChild(el('td', 'empty', 'no instances'));
    table.appendChild(body);
    section.appendChild(table);
    section.appendChild(history(svc.service + '\\n1', 'Strategy switches', svc.switches, function (c) {
      return time(c.at) + '  ' + c.from + ' \\u2192 ' + c.to + ' (' + c.reason + ')';
    }));
    section.appendChild(history(svc.service + '\\n2', 'State changes', svc.changes, function (c) {
      return time(c.at) + '  ' + c.instance + ': ' + c.from + ' \\u2192 ' + c.to + ' (' + c.reason + ')';
    }));
    return section;
  }
  // The series of every instance, by service and id, as of the second they end at. After the first
  // answer the page asks for the last few seconds only and splices them onto what it has.
  var cache = Object.create(null);
  var lastOkAt = 0;
  var RECENT_POINTS = 6;
  // An answer shorter than the points asked for begins where the instance's window does: an id
  // that moved to a new endpoint is a new instance, and the old one's points are not its own.
  function spliced(key, series, second, history, asked) {
    var old = cache[key];
    var n = series.requests.length;
    var start = second - n + 1;
    var overlaps = old && n >= asked && old.second <= second && old.second >= start - 1;
    var keep = overlaps ? Math.max(0, old.requests.length - (old.second - start + 1)) : 0;
    var out = { second: second };
    ['requests', 'failures', 'p99Ms'].forEach(function (name) {
      var joined = keep > 0 ? old[name].slice(0, keep).concat(series[name]) : series[name];
      out[name] = joined.length > history ? joined.slice(joined.length - history) : joined;
    });
    return out;
  }
  function render(data, asked) {
    var next = Object.create(null);
    data.services.forEach(function (svc) {
      // An id removed and added again while its old instance drains is listed twice, the current
      // instance first: each row splices onto a cache entry of its own.
      var seen = Object.create(null);
      svc.instances.forEach(function (inst) {
        var key = svc.service + '\\n' + inst.id;
        seen[key] = (seen[key] || 0) + 1;
        if (seen[key] > 1) key += '\\n' + seen[key];
        inst.series = next[key] = spliced(key, inst.series, data.second, data.historySeconds, asked);
      });
    });
    cache = next;
    lastOkAt = Date.now();
    var sections = data.services.map(serviceSection);
    root.replaceChildren.apply(root, sections);
    conn.className = '';
    conn.textContent = 'live \\u00b7 updated ' + time(data.generatedAt) + ' \\u00b7 figures over the last ' + data.windowSeconds + ' s';
  }
  // Polls start every 800 ms (or as soon as the last one ends, if it took longer), so that what
  // the page shows is less than a second old.
  var PERIOD_MS = 800;
  // A poll that hangs (a stalled server, a dropped link) would otherwise leave the page saying
  // "live" over figures that no longer move: it is abandoned and counted as a failure.
  var TIMEOUT_MS = 4000;
  function tick() {
    var started = Date.now();
    // A page that missed a few polls (a throttled background tab) asks for the whole history again.
    var recent = started - lastOkAt < (RECENT_POINTS - 2) * 1000;
    var abort = new AbortController();
    var timedOut = false;
    var timer = setTimeout(function () { timedOut = true; abort.abort(); }, TIMEOUT_MS);
    fetch(recent ? url + '?points=' + RECENT_POINTS : url, { headers: headers, cache: 'no-store', signal: abort.signal })
      .then(function (res) {
        if (!res.ok) throw new Error('HTTP ' + res.status);
        return res.json();
      })
      .then(function (data) { render(data, recent ? RECENT_POINTS : 0); })
      .catch(function (err) {
        conn.className = 'down';
        conn.textContent = 'disconnected (' + (timedOut ? 'no answer in ' + TIMEOUT_MS / 1000 + ' s' : err.message) + '), retrying';
      })
      .then(function () {
        clearTimeout(timer);
        setTimeout(tick, Math.max(0, PERIOD_MS - (Date.now() - started)));
      });
  }
  tick();
})();
`;

const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;

/** The page's HTML. */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Ballast status</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>Ballast status</h1><span id="conn" role="status">connecting\u2026</span></header>
<main id="services"></main>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** The page may run its own inline script and style, fetch from its origin, and nothing else. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** For everything that is not the page: nothing may load or run. */
export const DATA_CSP = "default-src 'none'; frame-ancestors 'none'";
