// Dashboard: live charts from the /api/live/global server-sent events (one event a second) and
// the top routes by traffic from /metrics.
import uPlot from './vendor/uplot/uPlot.esm.js';
import { api, clear, el, fmtNum, parsePrometheus, report } from './lib.js';

const keep = 120; // points per chart: two minutes at one event a second

// liveChart is a uPlot line chart that grows with push(x, ys) and keeps the last `keep` points.
export function liveChart(container, id, title, series, { stacked = false, unit = '' } = {}) {
  const box = el('div', { class: 'card chart', id, dataset: { points: '0', max: '0' } }, el('h3', {}, title));
  container.append(box);
  const data = [[], ...series.map(() => [])];
  const width = () => Math.max(240, box.clientWidth - 34);
  const opts = {
    width: width(),
    height: 200,
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    // A fixed one-minute window that slides, so the chart does not stretch its first points.
    scales: { x: { time: true, range: (u, min, max) => [max - 60, max] }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { space: 80, values: (u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' })) },
      { size: 56, values: (u, vals) => vals.map((v) => fmtNum(v, v % 1 === 0 ? 0 : v < 1 ? 2 : 1) + unit) },
    ],
    series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.color, width: 2, fill: stacked ? s.color + '33' : undefined, points: { show: false } }))],
  };
  const plot = new uPlot(opts, data, box);
  // Follow the card's width (the grid reflows as cards are added, and on resize).
  const ro = new ResizeObserver(() => { if (plot.width !== width()) plot.setSize({ width: width(), height: 200 }); });
  ro.observe(box);
  let max = 0;
  return {
    push(x, ys) {
      data[0].push(x);
      ys.forEach((y, i) => { data[i + 1].push(y); if (y > max) max = y; });
      if (data[0].length > keep) data.forEach((a) => a.shift());
      plot.setData(data);
      box.dataset.points = String(data[0].length);
      box.dataset.max = String(max);
      box.dataset.last = String(ys[0]);
    },
    destroy() { ro.disconnect(); plot.destroy(); },
  };
}

function tile(tiles, id, label) {
  tiles[id] = el('b', { id }, '–');
  return el('div', { class: 'stat' }, el('small', {}, label), tiles[id]);
}

export async function render(main) {
  main.append(el('h1', {}, 'Dashboard'));
  const status = el('p', { class: 'muted', id: 'live-status' }, 'Connecting to the live statistics…');
  const tiles = {};
  main.append(status, el('div', { class: 'stats' },
    tile(tiles, 'stat-rate', 'Requests / s'), tile(tiles, 'stat-p50', 'p50 latency (ms)'), tile(tiles, 'stat-p99', 'p99 latency (ms)'),
    tile(tiles, 'stat-inflight', 'In flight'), tile(tiles, 'stat-calls', 'Total requests'), tile(tiles, 'stat-errors', 'Errors (4xx+5xx) / s')));
  const grid = el('div', { class: 'grid charts' });
  main.append(grid);

  // Is the live feed wired? A 501 means the binary runs without live statistics.
  try {
    await api('GET', '/api/live');
  } catch (e) {
    if (e.status === 501) {
      clear(status, 'Live statistics are not available: this server runs without them (the admin API answers 501 on /api/live).');
      return null;
    }
    throw e;
  }

  const rps = liveChart(grid, 'chart-rps', 'Requests per second', [{ label: 'req/s', color: '#c2371f' }]);
  const lat = liveChart(grid, 'chart-latency', 'Latency (ms)', [{ label: 'p50', color: '#2563eb' }, { label: 'p99', color: '#9333ea' }], { unit: '' });
  const mix = liveChart(grid, 'chart-status', 'Status classes (per second)', [
    { label: '2xx', color: '#1f8a4c' }, { label: '3xx', color: '#0891b2' }, { label: '4xx', color: '#b7791f' }, { label: '5xx', color: '#c62828' },
  ]);
  const ovh = liveChart(grid, 'chart-overhead', 'Overhead vs backend time (mean ms)', [{ label: 'overhead', color: '#c2371f' }, { label: 'backend', color: '#64748b' }]);
  const charts = [rps, lat, mix, ovh];
  const topBox = el('div', { class: 'card', id: 'top-routes' }, el('h3', {}, 'Top routes by traffic'), el('p', { class: 'muted' }, 'Waiting for traffic…'));
  main.append(topBox);

  let prev = null;
  const es = new EventSource('/api/live/global?every=1000');
  es.onopen = () => { status.textContent = 'Live: one point a second.'; };
  es.onerror = () => { status.textContent = 'The live stream was interrupted; reconnecting…'; };
  es.onmessage = (ev) => {
    let s;
    try { s = JSON.parse(ev.data); } catch { return; }
    const x = Date.now() / 1000;
    const sec = (s.windowMs || 1000) / 1000;
    // Windowed mean durations from the totals: (sum now - sum before) / (calls now - calls before).
    let overhead = 0;
    let backend = 0;
    if (prev && s.calls > prev.calls) {
      const dc = s.calls - prev.calls;
      const dur = (s.duration * s.calls - prev.duration * prev.calls) / dc;
      overhead = Math.max(0, (s.overhead * s.calls - prev.overhead * prev.calls) / dc);
      backend = Math.max(0, dur - overhead);
    }
    prev = s;
    const st = s.status || {};
    rps.push(x, [s.rate]);
    lat.push(x, [s.p50, s.p99]);
    mix.push(x, [st['2xx'] / sec, st['3xx'] / sec, st['4xx'] / sec, st['5xx'] / sec]);
    ovh.push(x, [overhead, backend]);
    tiles['stat-rate'].textContent = fmtNum(s.rate, 1);
    tiles['stat-p50'].textContent = fmtNum(s.p50, 2);
    tiles['stat-p99'].textContent = fmtNum(s.p99, 2);
    tiles['stat-inflight'].textContent = fmtNum(s.concurrentHandledRequests);
    tiles['stat-calls'].textContent = fmtNum(s.calls);
    tiles['stat-errors'].textContent = fmtNum(((st['4xx'] || 0) + (st['5xx'] || 0)) / sec, 1);
  };

  // Top routes: request counters from /metrics, as rates between two reads.
  // Route names, asked for the routes shown only (there may be 100k routes); until the answer, and
  // for the summed series route="other", the label itself.
  const names = {};
  const nameOf = (id) => {
    if (!(id in names)) {
      names[id] = id;
      api('GET', `/api/routes/${encodeURIComponent(id)}`).then((r) => { names[id] = r.name || id; }).catch(() => {});
    }
    return names[id];
  };
  let last = null;
  const pollTop = async () => {
    try {
      const text = await api('GET', '/metrics', undefined, { raw: true });
      const now = performance.now();
      const totals = {};
      for (const m of parsePrometheus(text)) {
        if (m.name === 'torii_http_requests_total' && m.labels.route) totals[m.labels.route] = (totals[m.labels.route] || 0) + m.value;
      }
      if (last) {
        const dt = (now - last.at) / 1000;
        const rows = Object.entries(totals).map(([id, n]) => ({ id, rate: Math.max(0, n - (last.totals[id] || 0)) / dt, total: n }))
          .sort((a, b) => b.rate - a.rate || b.total - a.total).slice(0, 8);
        clear(topBox, el('h3', {}, 'Top routes by traffic'), rows.length === 0
          ? el('p', { class: 'muted' }, 'No route has served traffic yet.')
          : el('div', { class: 'table-wrap' }, el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'Route'), el('th', {}, 'Requests / s'), el('th', {}, 'Total'))),
            el('tbody', {}, rows.map((r) => el('tr', {}, el('td', {}, el('a', { href: `#/routes/${encodeURIComponent(r.id)}` }, nameOf(r.id))),
              el('td', {}, fmtNum(r.rate, 1)), el('td', {}, fmtNum(r.total))))))));
      }
      last = { at: now, totals };
    } catch (e) {
      if (e.status !== 401) report(e, 'cannot read /metrics');
    }
  };
  pollTop();
  const topTimer = setInterval(pollTop, 2000);
  return () => {
    es.close();
    clearInterval(topTimer);
    charts.forEach((c) => c.destroy());
  };
}
