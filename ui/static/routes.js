// Routes: list, search, create, edit (form and raw JSON), enable or disable, delete, and the
// live statistics and target health and circuit-breaker states of one route.
import { api, clear, clearFieldErrors, el, empty, fmtNum, formatHeaders, lines, pagedList, parseHeaders, pill, report, showFieldErrors, toast, withBusy } from './lib.js';

const P = 'cp:otoroshi.next.plugins.';
const lbTypes = ['RoundRobin', 'Random', 'Sticky', 'IpAddressHash', 'BestResponseTime', 'WeightedBestResponseTime', 'LeastConnections', 'PowerOfTwoRandomChoices', 'NaiveFailover'];
const timeouts = [
  ['connection_timeout', 'Connect timeout (ms)'], ['call_timeout', 'Call timeout (ms)'],
  ['idle_timeout', 'Idle timeout (ms)'], ['global_timeout', 'Global timeout (ms)'], ['retries', 'Retries'],
];

export async function render(main, args) {
  if (args[0]) return renderEditor(main, args[0] === 'new' ? null : args[0]);
  return renderList(main);
}

const enc = encodeURIComponent;

async function renderList(main) {
  const search = el('input', { id: 'route-search', type: 'search', placeholder: 'Search by name, id or domain', 'aria-label': 'Search routes' });
  const box = el('div', { id: 'routes-list' });
  main.append(el('h1', {}, 'Routes'),
    el('div', { class: 'toolbar' }, search, el('span', { class: 'spacer' }), el('a', { class: 'button primary', href: '#/routes/new', id: 'route-new' }, 'New route')),
    box);
  // The server pages and searches: there may be 100k routes.
  const list = pagedList({
    box, search, path: '/api/routes',
    none: () => empty('No route yet. A route sends the requests for some domains to backend targets.', el('a', { class: 'button primary', href: '#/routes/new' }, 'Create the first route')),
    noMatch: (q) => empty(`No route matches “${q}”.`),
    draw: (routes) => el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Domains'), el('th', { class: 'hide-sm' }, 'Targets'), el('th', {}, 'State'), el('th', {}))),
      el('tbody', {}, routes.map((r) => {
        const toggle = el('button', { class: 'route-toggle' }, r.enabled === false ? 'Enable' : 'Disable');
        toggle.onclick = () => withBusy(toggle, 'cannot change the route', async () => {
          const updated = await api('PATCH', `/api/routes/${enc(r.id)}`, { enabled: r.enabled === false }, { contentType: 'application/merge-patch+json' });
          toast(`Route ${r.name || r.id} ${updated.enabled === false ? 'disabled' : 'enabled'}`, 'ok');
          await list.reload();
        });
        const del = el('button', { class: 'danger route-delete' }, 'Delete');
        del.onclick = () => {
          if (!confirm(`Delete the route ${r.name || r.id}?`)) return;
          withBusy(del, 'cannot delete the route', async () => {
            await api('DELETE', `/api/routes/${enc(r.id)}`);
            toast(`Route ${r.name || r.id} deleted`, 'ok');
            await list.reload();
          });
        };
        return el('tr', { dataset: { id: r.id } },
          el('td', {}, el('a', { href: `#/routes/${enc(r.id)}` }, r.name || r.id), el('div', { class: 'muted mono' }, r.id)),
          el('td', { class: 'mono' }, (r.frontend?.domains || []).join(', ')),
          el('td', { class: 'hide-sm mono' }, (r.backend?.targets || []).map((t) => `${t.tls ? 'https' : 'http'}://${t.hostname}:${t.port}`).join(', ')),
          el('td', {}, pill(r.enabled !== false)),
          el('td', { class: 'actions' }, el('a', { class: 'button', href: `#/routes/${enc(r.id)}` }, 'Edit'), ' ', toggle, ' ', del));
      })))),
  });
  await list.reload();
  return null;
}

function findPlugin(doc, name) {
  return (doc.plugins || []).find((p) => p && typeof p.plugin === 'string' && (p.plugin === P + name || p.plugin.endsWith('.' + name)));
}

function setPlugin(doc, name, on, config) {
  doc.plugins = Array.isArray(doc.plugins) ? doc.plugins : [];
  let p = findPlugin(doc, name);
  if (!on) {
    if (p) doc.plugins = doc.plugins.filter((x) => x !== p);
    return;
  }
  if (!p) {
    p = { enabled: true, plugin: P + name, include: [], exclude: [], config: {} };
    doc.plugins.push(p);
  }
  p.enabled = true;
  if (config) p.config = { ...(p.config || {}), ...config };
}

// num reads a numeric input; a value that is not a number is sent as typed, so that the API
// names the field.
function num(input) {
  const v = input.value.trim();
  if (v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

function field(label, input, hint) {
  return el('label', {}, label, input, hint ? el('small', { class: 'muted' }, hint) : null);
}
function check(label, input) { return el('label', { class: 'check' }, input, label); }

// buildForm renders the common fields of doc and returns {node, read} where read(doc) writes the
// form back into (a copy of) doc, keeping every field the form does not show.
function buildForm(doc, isNew) {
  const fe = doc.frontend || {};
  const be = doc.backend || {};
  const cl = be.client || {};
  const hc = be.health_check || {};
  const i = (name, value, attrs = {}) => el('input', { name, value: value ?? '', dataset: { field: name }, ...attrs });
  const cb = (name, on) => el('input', { type: 'checkbox', name, checked: !!on, dataset: { field: name } });
  const ta = (name, value, attrs = {}) => el('textarea', { name, dataset: { field: name }, ...attrs }, value);

  const f = {
    id: i('id', doc.id, isNew ? {} : { readonly: true }),
    name: i('name', doc.name, { required: true }),
    description: i('description', doc.description),
    enabled: cb('enabled', doc.enabled !== false),
    domains: ta('frontend.domains', (fe.domains || []).join('\n'), { placeholder: 'api.example.com\napi.example.com/v1' }),
    strip: cb('frontend.strip_path', fe.strip_path !== false),
    exact: cb('frontend.exact', !!fe.exact),
    root: i('backend.root', be.root ?? '/'),
    lb: el('select', { name: 'backend.load_balancing.type', dataset: { field: 'backend.load_balancing.type' } },
      lbTypes.map((t) => el('option', { value: t }, t))),
    hcOn: cb('backend.health_check.enabled', !!hc.enabled),
    hcURL: i('backend.health_check.url', hc.url, { placeholder: 'http://127.0.0.1:3000/health' }),
    hcTimeout: i('backend.health_check.timeout', hc.timeout ?? 5000, { inputmode: 'numeric' }),
    apikey: cb('plugins.apikey', !!findPlugin(doc, 'ApikeyCalls')?.enabled),
    publicPaths: ta('plugins.public_patterns', (findPlugin(doc, 'PublicPrivatePaths')?.config?.public_patterns || []).join('\n'), { placeholder: '/public/.*' }),
    privatePaths: ta('plugins.private_patterns', (findPlugin(doc, 'PublicPrivatePaths')?.config?.private_patterns || []).join('\n'), { placeholder: '/admin/.*' }),
    headersIn: ta('plugins.headers_in', formatHeaders(findPlugin(doc, 'AdditionalHeadersIn')?.config?.headers), { placeholder: 'X-Request-Source: torii' }),
    headersOut: ta('plugins.headers_out', formatHeaders(findPlugin(doc, 'AdditionalHeadersOut')?.config?.headers), { placeholder: 'X-Frame-Options: DENY' }),
  };
  f.lb.value = be.load_balancing?.type || 'RoundRobin';
  const to = Object.fromEntries(timeouts.map(([k]) => [k, i(`backend.client.${k}`, cl[k], { inputmode: 'numeric' })]));

  const targets = el('div', { id: 'targets' });
  const targetRow = (t) => {
    const row = el('div', { class: 'target-row' });
    const idx = () => [...targets.children].indexOf(row);
    const mk = (k, v, attrs) => {
      const inp = el('input', { name: k, value: v ?? '', ...attrs });
      inp.dataset.key = k;
      return inp;
    };
    const host = mk('hostname', t.hostname, { placeholder: '127.0.0.1' });
    const port = mk('port', t.port, { inputmode: 'numeric', placeholder: '8080' });
    const weight = mk('weight', t.weight ?? 1, { inputmode: 'numeric' });
    const tls = el('input', { type: 'checkbox', checked: !!t.tls });
    const backup = el('input', { type: 'checkbox', checked: !!t.backup });
    row._extra = t;
    row._read = () => ({ ...t, hostname: host.value.trim(), port: num(port), weight: num(weight) ?? 1, tls: tls.checked, backup: backup.checked });
    row._index = () => {
      const n = idx();
      host.dataset.field = `backend.targets[${n}].hostname`;
      port.dataset.field = `backend.targets[${n}].port`;
      weight.dataset.field = `backend.targets[${n}].weight`;
    };
    row.append(field('Host', host), field('Port', port), field('Weight', weight), check('TLS', tls), check('Backup', backup),
      el('button', { type: 'button', class: 'danger', 'aria-label': 'Remove target', onclick: () => { row.remove(); reindex(); } }, '✕'));
    return row;
  };
  const reindex = () => [...targets.children].forEach((r) => r._index());
  (be.targets || []).forEach((t) => targets.append(targetRow(t)));
  reindex();

  const node = el('div', { id: 'route-form' },
    el('fieldset', {}, el('legend', {}, 'Route'), el('div', { class: 'cols' }, field('Name', f.name), field('Id', f.id), field('Description', f.description)), check('Enabled', f.enabled)),
    el('fieldset', {}, el('legend', {}, 'Frontend'), field('Domains (one per line: host or host/path)', f.domains), el('div', { class: 'row' }, check('Strip path', f.strip), check('Exact path', f.exact))),
    el('fieldset', { dataset: { field: 'backend.targets' } }, el('legend', {}, 'Targets'), targets,
      el('button', { type: 'button', id: 'target-add', onclick: () => { targets.append(targetRow({ hostname: '', port: '', weight: 1 })); reindex(); } }, 'Add a target')),
    el('fieldset', {}, el('legend', {}, 'Backend'), el('div', { class: 'cols' }, field('Root path', f.root), field('Load balancing', f.lb)),
      el('div', { class: 'cols' }, timeouts.map(([k, label]) => field(label, to[k])))),
    el('fieldset', {}, el('legend', {}, 'Health check'), check('Enabled', f.hcOn), el('div', { class: 'cols' }, field('URL', f.hcURL), field('Timeout (ms)', f.hcTimeout))),
    el('fieldset', {}, el('legend', {}, 'Plugins'), check('API key required (ApikeyCalls)', f.apikey),
      el('div', { class: 'cols' }, field('Public paths (regex, one per line)', f.publicPaths), field('Private paths (regex, one per line)', f.privatePaths)),
      el('div', { class: 'cols' }, field('Headers added in (Name: value)', f.headersIn), field('Headers added out (Name: value)', f.headersOut))));

  const read = (orig) => {
    const d = structuredClone(orig);
    if (isNew) d.id = f.id.value.trim();
    d.name = f.name.value.trim();
    d.description = f.description.value;
    d.enabled = f.enabled.checked;
    d.frontend = { ...(d.frontend || {}), domains: lines(f.domains.value), strip_path: f.strip.checked, exact: f.exact.checked };
    d.backend = { ...(d.backend || {}) };
    d.backend.targets = [...targets.children].map((r) => r._read());
    d.backend.root = f.root.value;
    d.backend.load_balancing = { ...(d.backend.load_balancing || {}), type: f.lb.value };
    d.backend.client = { ...(d.backend.client || {}) };
    for (const [k] of timeouts) {
      const v = num(to[k]);
      if (v === undefined) delete d.backend.client[k]; else d.backend.client[k] = v;
    }
    if (f.hcOn.checked || d.backend.health_check) {
      d.backend.health_check = { ...(d.backend.health_check || {}), enabled: f.hcOn.checked, url: f.hcURL.value.trim(), timeout: num(f.hcTimeout) ?? 5000 };
    }
    setPlugin(d, 'ApikeyCalls', f.apikey.checked);
    const pub = lines(f.publicPaths.value);
    const priv = lines(f.privatePaths.value);
    setPlugin(d, 'PublicPrivatePaths', pub.length + priv.length > 0, { public_patterns: pub, private_patterns: priv, strict: findPlugin(d, 'PublicPrivatePaths')?.config?.strict ?? false });
    const hin = parseHeaders(f.headersIn.value);
    const hout = parseHeaders(f.headersOut.value);
    setPlugin(d, 'AdditionalHeadersIn', Object.keys(hin).length > 0, { headers: hin });
    setPlugin(d, 'AdditionalHeadersOut', Object.keys(hout).length > 0, { headers: hout });
    return d;
  };
  return { node, read };
}

async function renderEditor(main, id) {
  const isNew = id === null;
  let doc = isNew ? await api('GET', '/api/routes/_template') : await api('GET', `/api/routes/${enc(id)}`);
  if (isNew) { doc.name = ''; doc.frontend.domains = []; }
  main.append(el('p', {}, el('a', { href: '#/routes' }, '← Routes')), el('h1', {}, isNew ? 'New route' : `Route ${doc.name || doc.id}`));
  const general = el('div', { id: 'form-errors' });
  const formTab = el('button', { type: 'button', class: 'active', id: 'tab-form' }, 'Form');
  const rawTab = el('button', { type: 'button', id: 'tab-raw' }, 'Raw JSON');
  const body = el('div');
  const save = el('button', { type: 'submit', class: 'primary', id: 'route-save' }, isNew ? 'Create route' : 'Save');
  const form = el('form', { id: 'route-editor', class: 'card', novalidate: true }, el('div', { class: 'tabs' }, formTab, rawTab), body, general,
    el('div', { class: 'row' }, save, el('a', { class: 'button', href: '#/routes' }, 'Cancel')));
  main.append(form);
  let mode = 'form';
  let current = buildForm(doc, isNew);
  let raw = null;
  body.append(current.node);
  const sync = () => {
    if (mode === 'form') { doc = current.read(doc); return true; }
    try {
      doc = JSON.parse(raw.value);
      return true;
    } catch (e) {
      clear(general, el('p', { class: 'field-error', dataset: { errorFor: 'json' } }, `The JSON does not parse: ${e.message}`));
      return false;
    }
  };
  formTab.onclick = () => {
    if (mode === 'form' || !sync()) return;
    mode = 'form';
    clear(general);
    current = buildForm(doc, isNew);
    clear(body, current.node);
    formTab.classList.add('active'); rawTab.classList.remove('active');
  };
  rawTab.onclick = () => {
    if (mode === 'raw') return;
    sync();
    mode = 'raw';
    clear(general);
    raw = el('textarea', { class: 'raw', id: 'route-raw', spellcheck: 'false', 'aria-label': 'Route JSON' }, JSON.stringify(doc, null, 2));
    clear(body, raw);
    rawTab.classList.add('active'); formTab.classList.remove('active');
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    clear(general);
    if (!sync()) return;
    withBusy(save, null, async () => {
      try {
        const saved = isNew ? await api('POST', '/api/routes', doc) : await api('PUT', `/api/routes/${enc(id)}`, doc);
        toast(`Route ${saved.name || saved.id} saved`, 'ok');
        location.hash = '#/routes';
      } catch (e) {
        if (e.fields?.length) {
          showFieldErrors(form, e.fields, general);
          toast(`The route is not valid: ${e.fields.length} field(s) to fix`, 'error');
        } else {
          clear(general, el('p', { class: 'field-error', dataset: { errorFor: '' } }, e.message));
          report(e, 'cannot save the route');
        }
      }
    });
  });
  if (isNew) return null;
  return liveRoute(main, id);
}

// liveRoute shows the route's live statistics (SSE /api/live/{id}) and its targets' health,
// circuit breakers, requests in flight and latency (/api/routes/{id}/targets), polled every 3 s.
function liveRoute(main, id) {
  const stats = el('div', { class: 'stats', id: 'route-live' });
  const tgBox = el('div', { id: 'route-targets' }, el('p', { class: 'muted' }, 'Reading target health…'));
  main.append(el('div', { class: 'card' }, el('h2', {}, 'Live statistics'), stats,
    el('h3', {}, 'Targets: health and circuit breakers'), tgBox,
    el('p', { class: 'muted' }, 'Healthy is the active health check’s verdict (always ✓ when the route has none); latency is a moving average of successful calls.')));
  const setStats = (s) => clear(stats,
    [['Requests / s', fmtNum(s.rate, 1)], ['p50 (ms)', fmtNum(s.p50, 2)], ['p99 (ms)', fmtNum(s.p99, 2)], ['Total', fmtNum(s.calls)], ['In flight', fmtNum(s.concurrentHandledRequests)]]
      .map(([k, v]) => el('div', { class: 'stat' }, el('small', {}, k), el('b', {}, v))));
  clear(stats, el('p', { class: 'muted' }, 'No traffic recorded for this route yet.'));
  let es = null;
  const open = () => {
    es = new EventSource(`/api/live/${enc(id)}?every=1000`);
    es.onmessage = (ev) => { try { setStats(JSON.parse(ev.data)); } catch { /* a partial event; the next one follows */ } };
    // 404 until the route has served traffic: retry quietly every 5 s.
    es.onerror = () => { es.close(); es = null; retry = setTimeout(open, 5000); };
  };
  let retry = null;
  open();
  const circuit = (c) => el('span', { class: `pill ${c === 'closed' ? 'on' : 'off'}` }, c);
  const pollTargets = async () => {
    try {
      const ts = await api('GET', `/api/routes/${enc(id)}/targets`);
      clear(tgBox, !ts || ts.length === 0 ? el('p', { class: 'muted' }, 'This route has no targets.')
        : el('div', { class: 'table-wrap' }, el('table', {},
          el('thead', {}, el('tr', {}, el('th', {}, 'Target'), el('th', {}, 'Address'), el('th', {}, 'Healthy'), el('th', {}, 'Circuit'), el('th', {}, 'In flight'), el('th', {}, 'Latency (ms)'))),
          el('tbody', {}, ts.map((x) => el('tr', { 'data-target': x.id },
            el('td', { class: 'mono' }, `${x.id}${x.backup ? ' (backup)' : ''}`),
            el('td', { class: 'mono', title: `${x.hostname}:${x.port}` }, x.address),
            el('td', { class: x.healthy ? 'healthy' : 'unhealthy' }, x.healthy ? '✓' : '✗'),
            el('td', {}, circuit(x.circuit)),
            el('td', {}, fmtNum(x.inFlight)),
            el('td', {}, fmtNum(x.latencyMs, 2))))))));
    } catch (e) {
      if (e.status === 404) clear(tgBox, el('p', { class: 'muted' }, 'The route is not published yet.'));
      else if (e.status !== 401) report(e, 'cannot read target health');
    }
  };
  pollTargets();
  const t = setInterval(pollTargets, 3000);
  return () => { if (es) es.close(); clearTimeout(retry); clearInterval(t); };
}
