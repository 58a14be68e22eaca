// API keys: list with quota usage bars, create (the secret shown once), edit quotas, authorized
// routes and groups, enable or disable, rotate the secret, reset the quotas, delete.
import { api, clear, clearFieldErrors, el, empty, fmtNum, lines, pagedList, pill, randomSecret, report, showFieldErrors, toast, withBusy, copyButton } from './lib.js';

const enc = encodeURIComponent;
const unlimited = 10000000; // Otoroshi's "no limit" value

export async function render(main, args) {
  if (args[0]) return renderEditor(main, args[0] === 'new' ? null : args[0]);
  return renderList(main, takePendingSecret());
}

// secretBox shows a secret once, with a copy button.
function secretBox(clientId, secret, what) {
  return el('div', { class: 'secret-box', id: 'secret-box' },
    el('b', {}, `${what}. Copy the secret now: it is not shown again.`),
    el('div', { class: 'row' }, el('span', {}, 'Client id: '), el('code', { id: 'new-client-id' }, clientId), copyButton(clientId)),
    el('div', { class: 'row' }, el('span', {}, 'Client secret: '), el('code', { id: 'new-client-secret' }, secret), copyButton(secret, 'Copy secret')),
    el('button', { type: 'button', onclick: (e) => e.target.closest('.secret-box').remove() }, 'I have copied it'));
}

// bar draws used/limit; limit ≥ unlimited reads as "no limit".
function bar(kind, label, used, limit) {
  const lim = limit >= unlimited ? 0 : limit;
  const ratio = lim > 0 ? Math.min(1, used / lim) : 0;
  const cls = ratio >= 1 ? 'bar full' : ratio >= 0.8 ? 'bar warn' : 'bar';
  return [el('span', {}, label), el('div', { class: cls, dataset: { kind, used: String(used), limit: String(limit) }, title: `${used} of ${lim ? limit : 'unlimited'}` },
    el('i', { style: `width:${(ratio * 100).toFixed(1)}%` }), el('span', {}, lim ? `${fmtNum(used)} / ${fmtNum(limit)}` : `${fmtNum(used)} (no limit)`))];
}

function quotaBars(q) {
  return el('div', { class: 'quota' },
    bar('window', 'window', q.throttlingCallsPerWindow, q.authorizedCallsPerWindow),
    bar('day', 'day', q.currentCallsPerDay, q.authorizedCallsPerDay),
    bar('month', 'month', q.currentCallsPerMonth, q.authorizedCallsPerMonth));
}

async function renderList(main, fresh) {
  const box = el('div', { id: 'apikeys-list' });
  const search = el('input', { type: 'search', placeholder: 'Search by name or client id', 'aria-label': 'Search API keys' });
  main.append(el('h1', {}, 'API keys'));
  if (fresh) main.append(fresh);
  main.append(el('div', { class: 'toolbar' }, search, el('span', { class: 'spacer' }), el('a', { class: 'button primary', href: '#/apikeys/new', id: 'apikey-new' }, 'New API key')), box);
  const quotaCells = new Map();
  // The server pages and searches: there may be a million keys.
  const draw = (shown) => {
    quotaCells.clear();
    refreshGen++; // the reads of the previous page stop
    setTimeout(refresh);
    return el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', { class: 'hide-sm' }, 'Authorized on'), el('th', {}, 'State'), el('th', {}, 'Quota usage'), el('th', {}))),
      el('tbody', {}, shown.map((k) => {
        const cell = el('td', { class: 'quota-cell' }, el('span', { class: 'muted' }, '…'));
        quotaCells.set(k.clientId, cell);
        const btn = (label, cls, what, f) => {
          const b = el('button', { class: cls }, label);
          b.onclick = () => withBusy(b, what, f);
          return b;
        };
        const toggle = btn(k.enabled === false ? 'Enable' : 'Disable', 'key-toggle', 'cannot change the key', async () => {
          const u = await api('PATCH', `/api/apikeys/${enc(k.clientId)}`, { enabled: k.enabled === false }, { contentType: 'application/merge-patch+json' });
          toast(`Key ${k.clientName} ${u.enabled === false ? 'disabled' : 'enabled'}`, 'ok');
          await list.reload();
        });
        const rotate = btn('Rotate', 'key-rotate', 'cannot rotate the secret', async () => {
          if (!confirm(`Give ${k.clientName} a new secret? The old one stops working at once.`)) return;
          const secret = randomSecret(64);
          await api('PATCH', `/api/apikeys/${enc(k.clientId)}`, { clientSecret: secret }, { contentType: 'application/merge-patch+json' });
          box.before(secretBox(k.clientId, secret, `New secret for ${k.clientName}`));
        });
        const reset = btn('Reset quotas', 'key-reset', 'cannot reset the quotas', async () => {
          const u = await api('DELETE', `/api/apikeys/${enc(k.clientId)}/quotas`);
          clear(cell, quotaBars(u));
          toast(`Quotas of ${k.clientName} reset`, 'ok');
        });
        const del = btn('Delete', 'danger key-delete', 'cannot delete the key', async () => {
          if (!confirm(`Delete the key ${k.clientName}?`)) return;
          await api('DELETE', `/api/apikeys/${enc(k.clientId)}`);
          toast(`Key ${k.clientName} deleted`, 'ok');
          await list.reload();
        });
        return el('tr', { dataset: { id: k.clientId } },
          el('td', {}, el('a', { href: `#/apikeys/${enc(k.clientId)}` }, k.clientName || k.clientId), el('div', { class: 'muted mono' }, k.clientId)),
          el('td', { class: 'hide-sm mono' }, (k.authorizedEntities || []).join(', ') || el('span', { class: 'muted' }, 'nothing')),
          el('td', {}, pill(k.enabled !== false)),
          cell,
          el('td', { class: 'actions' }, el('a', { class: 'button', href: `#/apikeys/${enc(k.clientId)}` }, 'Edit'), ' ', toggle, ' ', rotate, ' ', reset, ' ', del));
      }))));
  };
  const list = pagedList({
    box, search, path: '/api/apikeys', draw,
    none: () => empty('No API key yet. Keys let clients call routes that require one, with quotas.', el('a', { class: 'button primary', href: '#/apikeys/new' }, 'Create the first key')),
    noMatch: (q) => empty(`No key matches “${q}”.`),
  });
  let quotasOff = false;
  // Quota cells are read four at a time, so that the browser keeps connections free for the
  // list itself; a new page stops the reads of the previous one.
  let refreshGen = 0;
  const refresh = async () => {
    if (quotasOff) return;
    const gen = ++refreshGen;
    const cells = [...quotaCells];
    for (let i = 0; i < cells.length; i += 4) {
      if (gen !== refreshGen || quotasOff) return;
      await Promise.all(cells.slice(i, i + 4).map(async ([id, cell]) => {
        try {
          clear(cell, quotaBars(await api('GET', `/api/apikeys/${enc(id)}/quotas`)));
        } catch (e) {
          if (e.status === 501) { quotasOff = true; clear(cell, el('span', { class: 'muted' }, 'quota counters not available')); return; }
          if (e.status !== 404 && e.status !== 401) report(e, 'cannot read quotas');
        }
      }));
    }
  };
  await list.reload();
  const t = setInterval(refresh, 2000);
  return () => clearInterval(t);
}

async function renderEditor(main, id) {
  const isNew = id === null;
  const doc = isNew ? await api('GET', '/api/apikeys/_template') : await api('GET', `/api/apikeys/${enc(id)}`);
  if (isNew) { doc.clientName = ''; doc.authorizedEntities = []; }
  // Routes: the first page and the ones the key is authorized on; a search asks the server for
  // others (there may be 100k routes).
  const [routes, groups] = await Promise.all([api('GET', '/api/routes?pageSize=50'), api('GET', '/api/groups?pageSize=1000')]);
  main.append(el('p', {}, el('a', { href: '#/apikeys' }, '← API keys')), el('h1', {}, isNew ? 'New API key' : `API key ${doc.clientName}`));
  const inp = (name, value, attrs = {}) => el('input', { name, value: value ?? '', dataset: { field: name }, ...attrs });
  const name = inp('clientName', doc.clientName, { required: true });
  const description = inp('description', doc.description);
  const enabled = el('input', { type: 'checkbox', checked: doc.enabled !== false, dataset: { field: 'enabled' } });
  const quotas = ['throttlingQuota', 'dailyQuota', 'monthlyQuota'].map((k) => [k, inp(k, doc[k], { inputmode: 'numeric' })]);
  const auth = new Set(doc.authorizedEntities || []);
  const known = new Set();
  const entity = (value, label) => {
    known.add(value);
    return el('label', { class: 'check' }, el('input', { type: 'checkbox', value, checked: auth.has(value), dataset: { entity: value } }), label);
  };
  const others = el('textarea', { dataset: { field: 'authorizedEntities' }, placeholder: 'other entity ids, one per line' });
  const routeBox = el('div', { id: 'key-routes' });
  const routeSearch = el('input', { type: 'search', id: 'key-route-search', placeholder: 'Find a route by name, id or domain', 'aria-label': 'Find routes' });
  const entities = el('div', { class: 'cols' },
    el('div', {}, el('h3', {}, 'Groups'), groups.length ? groups.map((g) => entity(`group_${g.id}`, g.name || g.id)) : el('p', { class: 'muted' }, 'No group.')),
    el('div', {}, el('h3', {}, 'Routes'), routeSearch, routeBox));
  const addRoutes = (rs) => routeBox.append(...rs.filter((r) => !known.has(`route_${r.id}`)).map((r) => entity(`route_${r.id}`, r.name || r.id)));
  for (const a of auth) if (a.startsWith('route_')) addRoutes([{ id: a.slice(6) }]);
  addRoutes(routes);
  if (!routes.length) routeBox.append(el('p', { class: 'muted' }, 'No route.'));
  let searchTimer = null;
  routeSearch.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => api('GET', `/api/routes?pageSize=20&search=${enc(routeSearch.value.trim())}`)
      .then((rs) => addRoutes(rs)).catch((e) => report(e, 'cannot search routes')), 250);
  });
  others.value = [...auth].filter((a) => !known.has(a)).join('\n');
  const general = el('div', { id: 'form-errors' });
  const save = el('button', { type: 'submit', class: 'primary', id: 'apikey-save' }, isNew ? 'Create key' : 'Save');
  const form = el('form', { id: 'apikey-editor', class: 'card', novalidate: true },
    el('fieldset', {}, el('legend', {}, 'Key'), el('div', { class: 'cols' }, el('label', {}, 'Name', name), el('label', {}, 'Description', description)),
      el('label', { class: 'check' }, enabled, 'Enabled'), el('p', { class: 'muted' }, 'Client id: ', el('code', {}, doc.clientId))),
    el('fieldset', {}, el('legend', {}, 'Quotas (10000000 means no limit)'), el('div', { class: 'cols' },
      quotas.map(([k, i]) => el('label', {}, { throttlingQuota: 'Per window (calls/s)', dailyQuota: 'Per day', monthlyQuota: 'Per month' }[k], i)))),
    el('fieldset', {}, el('legend', {}, 'Authorized on'), entities, el('label', {}, 'Other entities', others)),
    general, el('div', { class: 'row' }, save, el('a', { class: 'button', href: '#/apikeys' }, 'Cancel')));
  main.append(form);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const d = structuredClone(doc);
    d.clientName = name.value.trim();
    d.description = description.value;
    d.enabled = enabled.checked;
    for (const [k, i] of quotas) {
      const v = i.value.trim();
      d[k] = v === '' ? unlimited : (Number.isFinite(Number(v)) ? Number(v) : v);
    }
    d.authorizedEntities = [...form.querySelectorAll('input[data-entity]:checked')].map((c) => c.value).concat(lines(others.value));
    withBusy(save, null, async () => {
      try {
        if (isNew) {
          const created = await api('POST', '/api/apikeys', d);
          // The list page shows the secret once, above the list.
          pendingSecret = { id: created.clientId, secret: d.clientSecret, name: created.clientName };
          location.hash = '#/apikeys';
        } else {
          await api('PUT', `/api/apikeys/${enc(id)}`, d);
          toast(`Key ${d.clientName} saved`, 'ok');
          location.hash = '#/apikeys';
        }
      } catch (e) {
        if (e.fields?.length) showFieldErrors(form, e.fields, general);
        else clear(general, el('p', { class: 'field-error', dataset: { errorFor: '' } }, e.message));
        report(e, 'cannot save the key');
      }
    });
  });
  return null;
}

// pendingSecret carries a just-created key's secret to the list page, which shows it once.
let pendingSecret = null;
function takePendingSecret() {
  const p = pendingSecret;
  pendingSecret = null;
  return p ? secretBox(p.id, p.secret, `Key ${p.name} created`) : null;
}
