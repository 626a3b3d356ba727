/**
 * The admin dashboard: one self-contained page (no CDN, no outside request),
 * kept in a module so it is compiled into the binary. It follows the
 * server's own event stream `/events` and draws its charts as SVG.
 *
 * @module
 */

/** The dashboard page served at the admin port's `/`. */
export const DASHBOARD_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sse-server dashboard</title>
<style>
  :root {
    --bg: #0f1419; --panel: #171d24; --line: #253040; --text: #e6edf3;
    --muted: #8b98a5; --accent: #4fb3ff; --accent2: #7ee787; --warn: #f0883e;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--text); }
  header {
    display: flex; align-items: baseline; gap: 1rem; padding: 1rem 1.5rem;
    border-bottom: 1px solid var(--line);
  }
  header h1 { margin: 0; font-size: 1.25rem; font-weight: 600; }
  header .meta { color: var(--muted); font-size: .85rem; }
  #state { margin-left: auto; font-size: .85rem; }
  #state.live::before { content: "● "; color: var(--accent2); }
  #state.down::before { content: "● "; color: var(--warn); }
  main { padding: 1.25rem 1.5rem; display: grid; gap: 1.25rem; }
  .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(10rem, 1fr)); gap: 1rem; }
  .card, .panel { background: var(--panel); border: 1px solid var(--line); border-radius: .6rem; }
  .card { padding: .9rem 1rem; }
  .card .label { color: var(--muted); font-size: .8rem; text-transform: uppercase; letter-spacing: .04em; }
  .card .value { font-size: 1.9rem; font-weight: 600; margin-top: .25rem; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 1rem; }
  .panel { padding: .9rem 1rem; }
  .panel h2 { margin: 0 0 .6rem; font-size: .95rem; font-weight: 600; color: var(--muted); }
  svg { width: 100%; height: 9rem; display: block; }
  .grid { stroke: var(--line); stroke-width: 1; }
  .axis { fill: var(--muted); font-size: 10px; }
  .lists { display: grid; grid-template-columns: minmax(16rem, 1fr) minmax(22rem, 2fr); gap: 1rem; }
  table { width: 100%; border-collapse: collapse; font-size: .88rem; }
  td, th { padding: .35rem .4rem; text-align: left; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 500; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; width: 4rem; }
  td.barcell { width: 55%; }
  .bar { height: .45rem; background: var(--accent); border-radius: .25rem; opacity: .8; }
  .data { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted);
    white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 28rem; }
  .empty { color: var(--muted); font-style: italic; }
  @media (max-width: 800px) { .lists { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<header>
  <h1>sse-server</h1>
  <span class="meta" id="version"></span>
  <span class="meta" id="uptime"></span>
  <span id="state" class="down">connecting</span>
</header>
<main>
  <section class="cards">
    <div class="card"><div class="label">Connections</div><div class="value" id="connections">–</div></div>
    <div class="card"><div class="label">Events / s</div><div class="value" id="events-rate">–</div></div>
    <div class="card"><div class="label">Deliveries / s</div><div class="value" id="deliveries-rate">–</div></div>
    <div class="card"><div class="label">Channels</div><div class="value" id="channels">–</div></div>
    <div class="card"><div class="label">Events published</div><div class="value" id="published">–</div></div>
    <div class="card"><div class="label">Slow consumers</div><div class="value" id="slow">–</div></div>
  </section>
  <section class="charts">
    <div class="panel"><h2>Connections, last 5 minutes</h2><svg id="chart-connections" viewBox="0 0 600 150" preserveAspectRatio="none"></svg></div>
    <div class="panel"><h2>Events per second, last 5 minutes</h2><svg id="chart-events" viewBox="0 0 600 150" preserveAspectRatio="none"></svg></div>
  </section>
  <section class="lists">
    <div class="panel"><h2>Channels</h2><table><thead><tr><th>Channel</th><th></th><th class="num">Subs</th></tr></thead><tbody id="channels-table"></tbody></table></div>
    <div class="panel"><h2>Recent events</h2><table><thead><tr><th>Time</th><th>Input</th><th>Channel</th><th>Type</th><th>Data</th></tr></thead><tbody id="recent"></tbody></table></div>
  </section>
</main>
<script>
"use strict";
const WINDOW = 300; // seconds of history in the charts
const points = { connections: [], events: [] };
let previous = null;
const $ = (id) => document.getElementById(id);
const fmt = (n) => n >= 1e6 ? (n / 1e6).toFixed(1) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : String(Math.round(n));
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };

function chart(svg, series, color) {
  const w = 600, h = 150, pad = 18;
  const now = Date.now() / 1000;
  const max = Math.max(1, ...series.map((p) => p[1]));
  const x = (t) => pad + (w - pad) * (1 - (now - t) / WINDOW);
  const y = (v) => h - pad - (h - 2 * pad) * (v / max);
  const path = series.map((p, i) => (i ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
  const area = series.length ? path + " L" + x(series[series.length - 1][0]).toFixed(1) + " " + (h - pad) + " L" + x(series[0][0]).toFixed(1) + " " + (h - pad) + " Z" : "";
  svg.innerHTML =
    '<line class="grid" x1="' + pad + '" y1="' + y(max) + '" x2="' + w + '" y2="' + y(max) + '"/>' +
    '<line class="grid" x1="' + pad + '" y1="' + y(0) + '" x2="' + w + '" y2="' + y(0) + '"/>' +
    '<text class="axis" x="2" y="' + (y(max) + 4) + '">' + fmt(max) + '</text>' +
    '<text class="axis" x="2" y="' + (y(0) + 4) + '">0</text>' +
    (area ? '<path d="' + area + '" fill="' + color + '" fill-opacity=".15"/>' +
      '<path d="' + path + '" fill="none" stroke="' + color + '" stroke-width="2"/>' : "");
}

function render(s) {
  const t = s.time / 1000;
  const total = Object.values(s.published).reduce((a, b) => a + b, 0);
  let rate = 0, deliveryRate = 0;
  if (previous) {
    const dt = Math.max(0.001, t - previous.time / 1000);
    const before = Object.values(previous.published).reduce((a, b) => a + b, 0);
    rate = (total - before) / dt;
    deliveryRate = (s.deliveries - previous.deliveries) / dt;
  }
  previous = s;
  for (const key of ["connections", "events"]) {
    points[key].push([t, key === "connections" ? s.clients : rate]);
    while (points[key].length && points[key][0][0] < t - WINDOW) points[key].shift();
  }
  $("version").textContent = "v" + s.version;
  const up = Math.round((s.time - Date.parse(s.startedAt)) / 1000);
  $("uptime").textContent = "up " + (up >= 3600 ? Math.floor(up / 3600) + "h " : "") + Math.floor(up % 3600 / 60) + "m " + up % 60 + "s";
  $("connections").textContent = fmt(s.clients);
  $("events-rate").textContent = rate.toFixed(rate < 10 ? 1 : 0);
  $("deliveries-rate").textContent = fmt(deliveryRate);
  $("channels").textContent = fmt(s.channels);
  $("published").textContent = fmt(total);
  $("slow").textContent = fmt(s.slowConsumers);
  chart($("chart-connections"), points.connections, "#4fb3ff");
  chart($("chart-events"), points.events, "#7ee787");

  const channels = $("channels-table");
  channels.replaceChildren();
  const top = s.topChannels.length ? s.topChannels[0][1] : 1;
  for (const [name, n] of s.topChannels) {
    const row = el("tr");
    row.append(el("td", name));
    const bar = el("td", undefined, "barcell"); const b = el("div", undefined, "bar"); b.style.width = Math.max(4, 100 * n / top) + "%"; bar.append(b);
    row.append(bar, el("td", String(n), "num"));
    channels.append(row);
  }
  if (!s.topChannels.length) { const row = el("tr"); const td = el("td", "no subscribers", "empty"); td.colSpan = 3; row.append(td); channels.append(row); }

  const recent = $("recent");
  recent.replaceChildren();
  for (const e of [...s.recent].reverse()) {
    const row = el("tr");
    row.append(el("td", new Date(e.time).toLocaleTimeString()), el("td", e.input),
      el("td", e.channels.length ? e.channels.join(", ") : "(none)"), el("td", e.type), el("td", e.data, "data"));
    recent.append(row);
  }
  if (!s.recent.length) { const row = el("tr"); const td = el("td", "nothing published yet", "empty"); td.colSpan = 5; row.append(td); recent.append(row); }
}

// A protected admin port is opened as /?access_token=...; the stream needs it too.
const token = new URLSearchParams(location.search).get("access_token");
const source = new EventSource(token ? "events?access_token=" + encodeURIComponent(token) : "events");
source.addEventListener("snapshot", (e) => render(JSON.parse(e.data)));
source.onopen = () => { $("state").textContent = "live"; $("state").className = "live"; };
source.onerror = () => { $("state").textContent = "reconnecting"; $("state").className = "down"; };
</script>
</body>
</html>
`;
