// Auth modules (Otoroshi's authConfigs): the modules routes use with the AuthModule plugin to log
// humans in. Listed with their type; created and edited as their JSON document (Otoroshi's fields),
// checked by the admin API, which names the field at fault.
import { api, clear, el, empty, report, toast, withBusy } from './lib.js';

const enc = encodeURIComponent;
const types = { basic: 'users (bcrypt)', oauth2: 'OAuth2 / OpenID Connect', ldap: 'LDAP' };

export async function renderAuths(main) {
  const box = el('div', { id: 'auths-list' });
  const doc = el('textarea', { id: 'auth-doc', class: 'mono', rows: 18, spellcheck: false, 'aria-label': 'Auth module JSON' });
  const kind = el('select', { id: 'auth-type', 'aria-label': 'Type of a new module' },
    Object.entries(types).map(([k, v]) => el('option', { value: k }, `${k}: ${v}`)));
  const errors = el('ul', { id: 'auth-errors', class: 'field-error' });
  const save = el('button', { type: 'submit', class: 'primary', id: 'auth-save' }, 'Create module');
  const fresh = el('button', { type: 'button', id: 'auth-new' }, 'New module');
  const title = el('h2', {}, 'New auth module');
  const form = el('form', { class: 'card', id: 'auth-form', novalidate: true }, title,
    el('p', { class: 'muted' }, 'Otoroshi’s fields. basic: users[{name, email, password (a bcrypt hash, e.g. from htpasswd -nbBC 10), metadata}], ',
      'sessionMaxAge (seconds), basicAuth. oauth2: clientId, clientSecret, oidConfig (discovery URL) or authorizeUrl/tokenUrl/userInfoUrl, scope, ',
      'pkce, refreshTokens, nameField, emailField. ldap: serverUrls, searchBase, userBase, searchFilter ((uid=${username})), groupFilters, ',
      'adminUsername, adminPassword, nameField, emailField. Routes use a module with the AuthModule plugin {"auth_module": "<id>"}.'),
    el('div', { class: 'row' }, el('label', {}, 'Template ', kind), fresh), doc, errors, el('div', { class: 'row' }, save));
  main.append(el('h1', {}, 'Auth modules'), form, box);
  let editing = null;
  const template = async () => {
    const t = await api('GET', '/api/auths/_template');
    t.type = kind.value;
    if (t.type !== 'basic') delete t.users;
    return t;
  };
  const startNew = async () => {
    editing = null;
    title.textContent = 'New auth module';
    save.textContent = 'Create module';
    doc.value = JSON.stringify(await template(), null, 2);
    clear(errors);
  };
  const startEdit = (m) => {
    editing = m;
    title.textContent = `Edit ${m.name || m.id}`;
    save.textContent = 'Save module';
    doc.value = JSON.stringify(m, null, 2);
    clear(errors);
    doc.focus();
  };
  fresh.onclick = () => withBusy(fresh, 'cannot load the template', startNew);
  const load = async () => {
    const mods = await api('GET', '/api/auths?pageSize=1000');
    if (mods.length === 0) return clear(box, empty('No auth module. Create one, then protect a route with the AuthModule plugin.'));
    clear(box, el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', {}, 'Type'), el('th', { class: 'hide-sm' }, 'Id'), el('th', { class: 'hide-sm' }, 'Session'), el('th', {}))),
      el('tbody', {}, mods.map((m) => {
        const del = el('button', { class: 'danger' }, 'Delete');
        del.onclick = () => {
          if (!confirm(`Delete the auth module ${m.name || m.id}? Routes that use it will answer 500.`)) return;
          withBusy(del, 'cannot delete the auth module', async () => { await api('DELETE', `/api/auths/${enc(m.id)}`); toast(`Auth module ${m.name || m.id} deleted`, 'ok'); await load(); });
        };
        const users = m.type === 'basic' ? ` (${(m.users || []).length} users)` : '';
        return el('tr', { dataset: { id: m.id } }, el('td', {}, m.name || ''), el('td', {}, `${m.type}${users}`), el('td', { class: 'hide-sm mono' }, m.id),
          el('td', { class: 'hide-sm' }, `${m.sessionMaxAge ?? 86400} s`),
          el('td', { class: 'actions' }, el('button', { onclick: () => startEdit(m) }, 'Edit'), ' ', del));
      })))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clear(errors);
    let body;
    try {
      body = JSON.parse(doc.value);
    } catch (e) {
      clear(errors, el('li', {}, `not JSON: ${e.message}`));
      return;
    }
    withBusy(save, null, async () => {
      try {
        if (editing) await api('PUT', `/api/auths/${enc(editing.id)}`, body);
        else await api('POST', '/api/auths', body);
        toast(`Auth module ${body.name || body.id || ''} saved`, 'ok');
        await startNew();
        await load();
      } catch (e) {
        if (e.fields?.length) clear(errors, e.fields.map((f) => el('li', { class: 'mono' }, `${f.field}: ${f.message}`)));
        report(e, 'cannot save the auth module');
      }
    });
  });
  await startNew();
  await load();
  return null;
}
