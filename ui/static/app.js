// Entry point: login, the hash router and the page shell.
import { api, clear, el, report, setUnauthorizedHandler, withBusy } from './lib.js';
import * as dashboard from './dashboard.js';
import * as routes from './routes.js';
import * as apikeys from './apikeys.js';
import * as misc from './misc.js';
import * as auths from './auths.js';
import * as certs from './certs.js';
import * as cluster from './cluster.js';

const pages = {
  dashboard: dashboard.render,
  routes: routes.render,
  apikeys: apikeys.render,
  groups: misc.renderGroups,
  auths: auths.renderAuths,
  certificates: certs.render,
  global: misc.renderGlobal,
  importexport: misc.renderImportExport,
  audit: misc.renderAudit,
  cluster: cluster.render,
};

const $ = (id) => document.getElementById(id);
let cleanup = null;
let loggedIn = false;

function showLogin() {
  loggedIn = false;
  if (cleanup) { cleanup(); cleanup = null; }
  $('shell').hidden = true;
  $('login').hidden = false;
  $('login-id').focus();
  // The back-office auth module (global config backOfficeAuthRef), when there is one.
  api('GET', '/api/session/sso', undefined, { quiet401: true }).then((sso) => {
    $('sso-form').hidden = !sso.enabled;
    if (sso.enabled) { $('sso-title').textContent = `Log in with ${sso.name}`; $('sso-user').focus(); }
  }).catch(() => { $('sso-form').hidden = true; });
}

async function showApp(who) {
  loggedIn = true;
  $('who').textContent = who;
  $('login').hidden = true;
  $('shell').hidden = false;
  await route();
}

// route renders the page the hash names: #/<page>[/<arg>...].
async function route() {
  if (!loggedIn) return;
  const [name, ...args] = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const page = pages[name] ? name : 'dashboard';
  if (!pages[name]) { history.replaceState(null, '', '#/dashboard'); }
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === page));
  $('nav').classList.remove('open');
  if (cleanup) { cleanup(); cleanup = null; }
  // Each render gets its own container: a page left while it still loads writes into a detached
  // node, and its cleanup runs as soon as it returns.
  const mine = ++generation;
  const main = el('div', { class: 'page', dataset: { page } });
  clear($('main'), main);
  try {
    const c = (await pages[page](main, args)) || null;
    if (mine === generation) cleanup = c;
    else if (c) c();
  } catch (e) {
    if (mine !== generation) return;
    report(e, `cannot show ${page}`);
    clear(main, el('div', { class: 'empty' }, el('p', {}, `This page could not load: ${e.message}`),
      el('button', { onclick: route }, 'Retry')));
  }
}
let generation = 0;

setUnauthorizedHandler(() => { if (loggedIn) { report(new Error('your session ended; log in again')); showLogin(); } });
window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (e) => report(e.reason || new Error('unexpected error')));
window.addEventListener('error', (e) => report(e.error || new Error(e.message)));

$('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const errBox = $('login-error');
  errBox.hidden = true;
  withBusy($('login-submit'), null, async () => {
    try {
      const s = await api('POST', '/api/session', { clientId: $('login-id').value.trim(), clientSecret: $('login-secret').value }, { quiet401: true });
      $('login-secret').value = '';
      await showApp(s.clientId);
    } catch (e) {
      errBox.textContent = e.status === 401 ? 'Wrong client id or secret.' : e.message;
      errBox.hidden = false;
    }
  });
});

$('sso-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const errBox = $('sso-error');
  errBox.hidden = true;
  withBusy($('sso-submit'), null, async () => {
    try {
      const s = await api('POST', '/api/session', { username: $('sso-user').value.trim(), password: $('sso-password').value }, { quiet401: true });
      $('sso-password').value = '';
      await showApp(s.clientId);
    } catch (e) {
      errBox.textContent = e.status === 401 ? 'Wrong user name or password.' : e.message;
      errBox.hidden = false;
    }
  });
});

$('logout').addEventListener('click', () => withBusy($('logout'), 'cannot log out', async () => {
  await api('DELETE', '/api/session');
  showLogin();
}));

$('menu-toggle').addEventListener('click', () => {
  const open = $('nav').classList.toggle('open');
  $('menu-toggle').setAttribute('aria-expanded', String(open));
});

// At load: already logged in (cookie) or not.
api('GET', '/api/session', undefined, { quiet401: true })
  .then((s) => showApp(s.clientId))
  .catch((e) => { if (e.status !== 401) report(e, 'cannot reach the admin API'); showLogin(); });
