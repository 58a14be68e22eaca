// Groups, global config, import / export and the audit log.
import { api, clear, clearFieldErrors, el, empty, fmtTime, lines, pagedList, report, showFieldErrors, toast, withBusy } from './lib.js';

const enc = encodeURIComponent;

export async function renderGroups(main) {
  const box = el('div', { id: 'groups-list' });
  const name = el('input', { name: 'name', dataset: { field: 'name' }, required: true });
  const description = el('input', { name: 'description', dataset: { field: 'description' } });
  const general = el('div');
  const save = el('button', { type: 'submit', class: 'primary', id: 'group-save' }, 'Create group');
  const cancel = el('button', { type: 'button', hidden: true }, 'Cancel edit');
  const form = el('form', { class: 'card', id: 'group-form', novalidate: true }, el('h2', {}, 'New group'),
    el('div', { class: 'cols' }, el('label', {}, 'Name', name), el('label', {}, 'Description', description)), general, el('div', { class: 'row' }, save, cancel));
  const search = el('input', { id: 'group-search', type: 'search', placeholder: 'Search by name or id', 'aria-label': 'Search groups' });
  main.append(el('h1', {}, 'Groups'), form, el('div', { class: 'toolbar' }, search), box);
  let editing = null;
  const startEdit = (g) => {
    editing = g;
    form.querySelector('h2').textContent = `Edit group ${g.name}`;
    name.value = g.name || '';
    description.value = g.description || '';
    save.textContent = 'Save group';
    cancel.hidden = false;
    name.focus();
  };
  const stopEdit = () => {
    editing = null;
    form.querySelector('h2').textContent = 'New group';
    name.value = description.value = '';
    save.textContent = 'Create group';
    cancel.hidden = true;
    clearFieldErrors(form);
  };
  cancel.onclick = stopEdit;
  // The server pages and searches, as for routes and keys.
  const list = pagedList({
    box, search, path: '/api/groups',
    none: () => empty('No group. Groups gather routes so that one API key can be authorized on all of them.'),
    noMatch: (q) => empty(`No group matches “${q}”.`),
    draw: (groups) => el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', { class: 'hide-sm' }, 'Id'), el('th', {}, 'Description'), el('th', {}))),
      el('tbody', {}, groups.map((g) => {
        const del = el('button', { class: 'danger' }, 'Delete');
        del.onclick = () => {
          if (!confirm(`Delete the group ${g.name}?`)) return;
          withBusy(del, 'cannot delete the group', async () => { await api('DELETE', `/api/groups/${enc(g.id)}`); toast(`Group ${g.name} deleted`, 'ok'); await load(); });
        };
        return el('tr', { dataset: { id: g.id } }, el('td', {}, g.name), el('td', { class: 'hide-sm mono' }, g.id), el('td', {}, g.description || ''),
          el('td', { class: 'actions' }, el('button', { onclick: () => startEdit(g) }, 'Edit'), ' ', del));
      })))),
  });
  const load = () => list.reload();
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    withBusy(save, null, async () => {
      try {
        if (editing) await api('PUT', `/api/groups/${enc(editing.id)}`, { ...editing, name: name.value.trim(), description: description.value });
        else await api('POST', '/api/groups', { name: name.value.trim(), description: description.value });
        toast(`Group ${name.value.trim()} saved`, 'ok');
        stopEdit();
        await load();
      } catch (e) {
        if (e.fields?.length) showFieldErrors(form, e.fields, general);
        report(e, 'cannot save the group');
      }
    });
  });
  await load();
  return null;
}

export async function renderGlobal(main) {
  let doc = await api('GET', '/api/globalconfig');
  const ipf = doc.ipFiltering || {};
  const maint = el('input', { type: 'checkbox', id: 'global-maintenance', checked: !!doc.maintenanceMode, dataset: { field: 'maintenanceMode' } });
  const thr = el('input', { name: 'throttlingQuota', value: doc.throttlingQuota ?? '', inputmode: 'numeric', dataset: { field: 'throttlingQuota' } });
  const perIP = el('input', { name: 'perIpThrottlingQuota', value: doc.perIpThrottlingQuota ?? '', inputmode: 'numeric', dataset: { field: 'perIpThrottlingQuota' } });
  const allow = el('textarea', { id: 'global-allow', dataset: { field: 'ipFiltering.whitelist' }, placeholder: '10.0.0.0/8' }, (ipf.whitelist || []).join('\n'));
  const block = el('textarea', { id: 'global-block', dataset: { field: 'ipFiltering.blacklist' }, placeholder: '203.0.113.7' }, (ipf.blacklist || []).join('\n'));
  const limitConc = el('input', { type: 'checkbox', id: 'global-limit-concurrent', checked: !!doc.limitConcurrentRequests, dataset: { field: 'limitConcurrentRequests' } });
  const maxConc = el('input', { name: 'maxConcurrentRequests', id: 'global-max-concurrent', value: doc.maxConcurrentRequests ?? '', inputmode: 'numeric', dataset: { field: 'maxConcurrentRequests' } });
  const trustXFF = el('input', { type: 'checkbox', id: 'global-trust-xff', checked: !!doc.trustXForwarded, dataset: { field: 'trustXForwarded' } });
  const underscores = el('input', { type: 'checkbox', id: 'global-underscores', checked: !!doc.underscoresInHeaders, dataset: { field: 'underscoresInHeaders' } });
  const general = el('div');
  const save = el('button', { type: 'submit', class: 'primary', id: 'global-save' }, 'Save');
  const form = el('form', { class: 'card', id: 'global-form', novalidate: true },
    el('fieldset', {}, el('legend', {}, 'Maintenance'), el('label', { class: 'check' }, maint, 'Maintenance mode: every route answers 503')),
    el('fieldset', {}, el('legend', {}, 'Global throttling (calls per second; 10000000 means no limit)'),
      el('div', { class: 'cols' }, el('label', {}, 'All clients', thr), el('label', {}, 'Per IP address', perIP))),
    el('fieldset', {}, el('legend', {}, 'IP filtering (addresses or CIDR prefixes, one per line)'),
      el('div', { class: 'cols' }, el('label', {}, 'Allow list (when not empty, only these)', allow), el('label', {}, 'Block list', block))),
    el('fieldset', {}, el('legend', {}, 'Requests'),
      el('label', { class: 'check' }, limitConc, 'Limit the requests in flight across the gateway (429 past the limit)'),
      el('label', {}, 'Maximum requests in flight', maxConc),
      el('label', { class: 'check' }, trustXFF, 'Trust X-Forwarded-For (only behind a proxy that overwrites it)'),
      el('label', { class: 'check' }, underscores, 'Forward request header fields whose names contain "_"')),
    general, save);
  main.append(el('h1', {}, 'Global config'), form);
  const n = (i) => { const v = i.value.trim(); return v === '' ? 10000000 : Number.isFinite(Number(v)) ? Number(v) : v; };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const d = { ...doc, maintenanceMode: maint.checked, throttlingQuota: n(thr), perIpThrottlingQuota: n(perIP),
      ipFiltering: { ...(doc.ipFiltering || {}), whitelist: lines(allow.value), blacklist: lines(block.value) },
      limitConcurrentRequests: limitConc.checked, maxConcurrentRequests: n(maxConc), trustXForwarded: trustXFF.checked,
      underscoresInHeaders: underscores.checked };
    withBusy(save, null, async () => {
      try {
        doc = await api('PUT', '/api/globalconfig', d);
        toast('Global config saved', 'ok');
      } catch (e) {
        if (e.fields?.length) showFieldErrors(form, e.fields, general);
        report(e, 'cannot save the global config');
      }
    });
  });
  return null;
}

export async function renderImportExport(main) {
  const exportBtn = el('button', { class: 'primary', id: 'export' }, 'Download the export');
  exportBtn.onclick = () => withBusy(exportBtn, 'cannot export', async () => {
    const text = await api('GET', '/api/otoroshi.json', undefined, { raw: true });
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const a = el('a', { href: url, download: `torii-export-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  const file = el('input', { type: 'file', id: 'import-file', accept: 'application/json,.json' });
  const importBtn = el('button', { class: 'danger', id: 'import' }, 'Import');
  const reportBox = el('div', { id: 'import-report' });
  importBtn.onclick = () => withBusy(importBtn, 'cannot import', async () => {
    const f = file.files[0];
    if (!f) { toast('Choose an export file first', 'error'); return; }
    if (!confirm('Importing replaces every route, group, API key and the global config. Continue?')) return;
    const text = await f.text();
    try {
      JSON.parse(text);
    } catch (e) {
      throw new Error(`${f.name} is not JSON: ${e.message}`);
    }
    try {
      showReport(reportBox, await api('POST', '/api/otoroshi.json', text));
      toast('Import done', 'ok');
    } catch (e) {
      clear(reportBox, el('div', { class: 'card' }, el('h2', {}, 'Import refused: nothing was changed'), el('p', { class: 'field-error' }, e.message),
        e.fields?.length ? el('ul', {}, e.fields.map((x) => el('li', { class: 'mono' }, `${x.field}: ${x.message}`))) : null));
      throw e;
    }
  });
  main.append(el('h1', {}, 'Import / export'),
    el('div', { class: 'card' }, el('h2', {}, 'Export'), el('p', { class: 'muted' }, 'The whole configuration in Otoroshi’s export format.'), exportBtn),
    el('div', { class: 'card' }, el('h2', {}, 'Import an Otoroshi export'),
      el('p', { class: 'muted' }, 'Replaces the whole configuration. Fields Torii does not implement are listed in the report.'),
      el('div', { class: 'row' }, file, importBtn)),
    reportBox);
  return null;
}

function showReport(box, rep) {
  const counts = (o) => Object.entries(o || {}).filter(([, n]) => n > 0);
  clear(box, el('div', { class: 'card report' }, el('h2', {}, 'Import report'),
    el('h3', {}, 'Imported'), counts(rep.imported).length ? el('ul', {}, counts(rep.imported).map(([k, n]) => el('li', { dataset: { imported: k } }, `${k}: ${n}`))) : el('p', { class: 'muted' }, 'Nothing.'),
    counts(rep.ignored).length ? [el('h3', {}, 'Ignored (kinds Torii does not manage)'), el('ul', {}, counts(rep.ignored).map(([k, n]) => el('li', {}, `${k}: ${n}`)))] : null,
    rep.converted?.length ? [el('h3', {}, 'Converted'), el('ul', {}, rep.converted.map((c) => el('li', {}, c)))] : null,
    el('h3', {}, `Unsupported fields (${rep.unsupported?.length || 0})`),
    rep.unsupported?.length ? el('div', { class: 'table-wrap' }, el('table', {}, el('tbody', {}, rep.unsupported.map((u) =>
      el('tr', {}, el('td', { class: 'mono' }, u.entity), el('td', { class: 'mono' }, u.field), el('td', {}, u.message || '')))))) : el('p', { class: 'muted' }, 'None.')));
}

export async function renderAudit(main) {
  const box = el('div', { id: 'audit-list' });
  const refresh = el('button', {}, 'Refresh');
  main.append(el('h1', {}, 'Audit log'), el('div', { class: 'toolbar' }, el('span', { class: 'muted' }, 'The last 100 admin actions, newest first.'), el('span', { class: 'spacer' }), refresh), box);
  const load = async () => {
    const evs = await api('GET', '/api/audit/events?pageSize=100');
    if (evs.length === 0) return clear(box, empty('No admin action recorded yet.'));
    clear(box, el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'When'), el('th', {}, 'Action'), el('th', {}, 'Entity'), el('th', { class: 'hide-sm' }, 'Who'), el('th', { class: 'hide-sm' }, 'From'), el('th', {}, 'Message'))),
      el('tbody', {}, evs.map((e) => el('tr', {}, el('td', {}, fmtTime(e['@timestamp'])), el('td', { class: 'mono' }, e.action), el('td', { class: 'mono' }, e.entityId || ''),
        el('td', { class: 'hide-sm mono' }, e.who || ''), el('td', { class: 'hide-sm mono' }, e.from || ''), el('td', {}, e.message || '')))))));
  };
  refresh.onclick = () => withBusy(refresh, 'cannot read the audit log', load);
  await load();
  return null;
}
