/**
 * The dashboard served at `GET /`: one self-contained page (no CDN, no external asset), a chart
 * drawn as SVG by a few lines of script, and a table of recent raw events. The API key is typed
 * into a password field and kept in memory only: never in a URL, a cookie or storage; requests
 * send it in the x-api-key header. The Content-Security-Policy allows only this page's own script
 * and style (by hash) and requests to its own origin.
 */
import { createHash } from 'node:crypto';
import type { HttpResponse } from '../../shared/http.ts';

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 16px;display:flex;gap:12px;align-items:center}
header h1{font-size:16px;margin:0 auto 0 0}
main{padding:12px 16px;display:grid;gap:12px}
form{display:flex;flex-wrap:wrap;gap:8px;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;gap:2px}
input,select,button{font:inherit;padding:4px 6px}
#chart{background:#fff;border:1px solid #d8dce3;border-radius:4px;min-height:320px}
#error{color:#b00020;min-height:1em}
table{border-collapse:collapse;background:#fff;width:100%;font-size:12px}
td,th{border-bottom:1px solid #e3e6eb;padding:3px 6px;text-align:left;vertical-align:top}
.legend span{display:inline-block;margin-right:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
`;

const SCRIPT = `
'use strict';
let apiKey = '';
const $ = (id) => document.getElementById(id);
const COLORS = ['#3366cc','#dc3912','#ff9900','#109618','#990099','#0099c6','#dd4477','#66aa00'];
async function api(path, params) {
  const qs = new URLSearchParams(Object.entries(params || {}).filter(([, v]) => v !== '' && v !== undefined));
  const res = await fetch(path + (qs.toString() ? '?' + qs : ''), { headers: { 'x-api-key': apiKey }, referrerPolicy: 'no-referrer' });
  const body = await res.json().catch(() => ({ error: 'HTTP ' + res.status }));
  if (!res.ok) throw new Error(body.error || body.message || 'HTTP ' + res.status);
  return body;
}
function showError(e) { $('error').textContent = e ? String(e.message || e) : ''; }
async function connect(ev) {
  ev.preventDefault();
  apiKey = $('key').value.trim();
  $('key').value = '';
  showError();
  try {
    const { metrics } = await api('/v1/metrics');
    const sel = $('metric');
    sel.replaceChildren(...metrics.map((m) => { const o = document.createElement('option'); o.value = m.name; o.textContent = m.name + ' (' + m.type + ')'; o.dataset.type = m.type; return o; }));
    $('status').textContent = metrics.length + ' metrics';
    $('query').hidden = false;
    if (metrics.length > 0) await draw();
  } catch (e) { showError(e); }
}
async function draw(ev) {
  if (ev) ev.preventDefault();
  showError();
  const to = Date.now();
  const from = to - Number($('range').value);
  const metric = $('metric').value;
  try {
    const [q, ev2] = await Promise.all([
      api('/v1/query', { metric, agg: $('agg').value, filter: $('filter').value.trim(), by: $('by').value.trim(), from: String(from), to: String(to) }),
      api('/v1/events', { name: metric, filter: $('filter').value.trim(), from: String(Math.max(from, to - 6 * 3600000)), to: String(to), limit: '50' }).catch((e) => ({ events: [], error: e })),
    ]);
    chart(q.series, from, to);
    table(ev2.events || []);
    if (ev2.error) showError(ev2.error);
  } catch (e) { showError(e); }
}
function chart(series, from, to) {
  const W = 900, H = 320, L = 60, R = 10, T = 10, B = 30;
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('width', '100%');
  const all = series.flatMap((s) => s.points.map((p) => p[1]));
  let lo = Math.min(0, ...all), hi = Math.max(...all, 1);
  if (hi === lo) hi = lo + 1;
  const x = (t) => L + ((t - from) / (to - from)) * (W - L - R);
  const y = (v) => H - B - ((v - lo) / (hi - lo)) * (H - T - B);
  const el = (name, attrs, text) => { const e = document.createElementNS(NS, name); for (const k in attrs) e.setAttribute(k, attrs[k]); if (text !== undefined) e.textContent = text; svg.appendChild(e); return e; };
  el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: '#888' });
  el('line', { x1: L, y1: T, x2: L, y2: H - B, stroke: '#888' });
  for (let i = 0; i <= 4; i++) {
    const v = lo + ((hi - lo) * i) / 4;
    el('text', { x: L - 4, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 11 }, Number(v.toPrecision(4)).toString());
    const t = from + ((to - from) * i) / 4;
    el('text', { x: x(t), y: H - 10, 'text-anchor': 'middle', 'font-size': 11 }, new Date(t).toISOString().slice(5, 16).replace('T', ' '));
  }
  const legend = $('legend');
  legend.replaceChildren();
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map((p, j) => (j ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[1]).toFixed(1)).join(' ');
    el('path', { d, fill: 'none', stroke: color, 'stroke-width': 1.5, class: 'series' });
    for (const p of s.points) el('circle', { cx: x(p[0]).toFixed(1), cy: y(p[1]).toFixed(1), r: 2, fill: color, class: 'point' });
    const item = document.createElement('span');
    const sw = document.createElement('i');
    sw.style.background = color;
    item.append(sw, Object.entries(s.tags).map(([k, v]) => k + ':' + v).join(', ') || 'all');
    legend.appendChild(item);
  });
  if (series.length === 0) el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no data in this range');
  $('chart').replaceChildren(svg);
  $('chart').dataset.points = String(all.length);
}
function table(events) {
  const rows = events.map((e) => {
    const tr = document.createElement('tr');
    for (const v of [new Date(e.ts).toISOString(), e.name, e.type, String(e.value), JSON.stringify(e.tags), e.attrs ? JSON.stringify(e.attrs) : '']) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.appendChild(td);
    }
    return tr;
  });
  $('events').replaceChildren(...rows);
}
$('connect').addEventListener('submit', connect);
$('query').addEventListener('submit', draw);
`;

const hash = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>streamfold</title><style>${STYLE}</style></head>
<body>
<header><h1>streamfold</h1>
<form id="connect" autocomplete="off"><input id="key" type="password" placeholder="API key (read scope)" aria-label="API key" size="34"><button id="connect-btn">Connect</button></form>
<span id="status"></span></header>
<main>
<form id="query" hidden>
<label>Metric<select id="metric"></select></label>
<label>Aggregation<select id="agg">${['avg', 'sum', 'min', 'max', 'count', 'last', 'p50', 'p90', 'p95', 'p99'].map((a) => `<option>${a}</option>`).join('')}</select></label>
<label>Filter<input id="filter" placeholder="env:prod,service:api"></label>
<label>Group by<input id="by" placeholder="host"></label>
<label>Range<select id="range"><option value="3600000">1 h</option><option value="21600000">6 h</option><option value="86400000" selected>24 h</option><option value="604800000">7 d</option><option value="2592000000">30 d</option></select></label>
<button id="draw">Draw</button>
</form>
<div id="error" role="alert"></div>
<div id="chart"></div><div id="legend" class="legend"></div>
<h2>Recent events</h2>
<table><thead><tr><th>ts</th><th>name</th><th>type</th><th>value</th><th>tags</th><th>attrs</th></tr></thead><tbody id="events"></tbody></table>
</main>
<script>${SCRIPT}</script>
</body></html>`;

export const DASHBOARD_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function dashboardResponse(): HttpResponse {
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    },
    body: DASHBOARD_HTML,
  };
}
