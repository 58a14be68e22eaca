// Shared helpers: DOM building, the API client, the loading bar, toasts and field errors.

// el builds an element. attrs: plain attributes, plus `on<event>` handlers, `class`, `dataset`,
// `value`/`checked` set as properties and `style` set through the CSSOM (the Content-Security-
// Policy refuses style attributes). Children are nodes or strings (inserted as text, never as
// HTML): data from the API must never reach innerHTML.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'value' || k === 'checked') e[k] = v;
    else if (k === 'style') e.style.cssText = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

// APIError is a non-2xx answer: status, code (e.g. errors.validation), message, fields.
export class APIError extends Error {
  constructor(status, body) {
    const msg = body?.error_description || body?.error || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.code = body?.error || '';
    this.fields = Array.isArray(body?.fields) ? body.fields : [];
  }
}

let pending = 0;
let busyTimer = null;
function busy(delta) {
  pending += delta;
  const bar = document.getElementById('busy');
  if (pending > 0 && !busyTimer && bar.hidden) {
    // Fast calls do not flash the bar; a slow one shows it after 150 ms.
    busyTimer = setTimeout(() => { busyTimer = null; if (pending > 0) bar.hidden = false; }, 150);
  }
  if (pending === 0) {
    clearTimeout(busyTimer);
    busyTimer = null;
    bar.hidden = true;
  }
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) { onUnauthorized = f; }

// api calls the admin API with the session cookie. body: an object (sent as JSON), a string, or
// undefined. It resolves to the decoded JSON (or text, or null for 204) and rejects with APIError.
export async function api(method, path, body, { contentType = 'application/json', raw = false, quiet401 = false, withCount = false } = {}) {
  // X-Requested-With asks the API not to send a Basic challenge, which would open the browser's
  // own login dialog.
  const init = { method, headers: { Accept: raw ? 'text/plain, */*;q=0.5' : 'application/json', 'X-Requested-With': 'torii-ui' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = contentType;
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  busy(1);
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new APIError(0, { error: 'network', error_description: `cannot reach the admin API: ${e.message}` });
  } finally {
    busy(-1);
  }
  const text = await res.text();
  if (!res.ok) {
    let b = null;
    try { b = JSON.parse(text); } catch { b = { error_description: text.slice(0, 300) || res.statusText }; }
    const err = new APIError(res.status, b);
    if (res.status === 401 && !quiet401) onUnauthorized();
    throw err;
  }
  if (withCount) return { body: JSON.parse(text || '[]'), count: Number(res.headers.get('X-Count') || 0) };
  if (raw || res.status === 204 || text === '') return raw ? text : null;
  try { return JSON.parse(text); } catch { return text; }
}

// pagedList shows one page of a list the server pages and searches (page, pageSize and search
// query parameters, the total in X-Count), so the browser never loads a whole kind: there may be
// 100k routes or a million API keys. draw(items) returns the table of a page; none() the content
// when the list is empty, noMatch(text) when the search finds nothing. Typing in search asks the
// server again after a pause. It returns reload(), which fetches the current page again (after a
// change), and items(), the entities shown.
export function pagedList({ box, search, path, pageSize = 50, draw, none, noMatch }) {
  let page = 1;
  let seq = 0;
  let items = [];
  const load = async () => {
    const my = ++seq;
    const q = search.value.trim();
    const sep = path.includes('?') ? '&' : '?';
    const { body, count } = await api('GET', `${path}${sep}page=${page}&pageSize=${pageSize}${q ? `&search=${encodeURIComponent(q)}` : ''}`, undefined, { withCount: true });
    if (my !== seq) return; // a later request is on its way
    const pages = Math.max(1, Math.ceil(count / pageSize));
    if (page > pages) { page = pages; return load(); }
    items = body;
    if (count === 0) { clear(box, q ? noMatch(search.value) : none()); return; }
    const prev = el('button', { class: 'pager-prev', disabled: page <= 1 }, '‹ Previous');
    const next = el('button', { class: 'pager-next', disabled: page >= pages }, 'Next ›');
    prev.onclick = () => { page--; load().catch((e) => report(e, 'cannot list')); };
    next.onclick = () => { page++; load().catch((e) => report(e, 'cannot list')); };
    const from = (page - 1) * pageSize + 1;
    clear(box, draw(items), el('div', { class: 'pager' }, prev,
      el('span', { class: 'pager-info muted' }, `${fmtNum(from)}–${fmtNum(from + items.length - 1)} of ${fmtNum(count)}`), next));
  };
  let timer = null;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => { page = 1; load().catch((e) => report(e, 'cannot search')); }, 250);
  });
  return { reload: load, items: () => items };
}

// toast shows a message; errors stay until dismissed, others go after 4 s.
export function toast(msg, kind = 'info') {
  const box = document.getElementById('toasts');
  const t = el('div', { class: `toast ${kind}` }, el('span', {}, msg),
    el('button', { 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
  box.append(t);
  if (kind !== 'error') setTimeout(() => t.remove(), 4000);
  while (box.children.length > 5) box.firstChild.remove();
}

// report shows an error to the user (never only in the console).
export function report(err, what) {
  const msg = err instanceof APIError && err.fields.length
    ? `${err.message}: ${err.fields.map((f) => `${f.field} ${f.message}`).join('; ')}`
    : err.message || String(err);
  toast(what ? `${what}: ${msg}` : msg, 'error');
}

// withBusy disables a button while f runs, and reports any error.
export async function withBusy(button, what, f) {
  if (button) button.disabled = true;
  try {
    return await f();
  } catch (e) {
    report(e, what);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

// showFieldErrors puts each API field error next to the input whose data-field names it, or the
// closest parent path (frontend.domains[2] -> frontend.domains); the rest go to `general`.
// It returns the errors no input claimed.
export function showFieldErrors(form, fields, general) {
  clearFieldErrors(form);
  const unclaimed = [];
  for (const f of fields) {
    let path = f.field;
    let input = null;
    while (path) {
      input = form.querySelector(`[data-field="${CSS.escape(path)}"]`);
      if (input) break;
      const cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
      path = cut > 0 ? path.slice(0, cut) : '';
    }
    if (!input) { unclaimed.push(f); continue; }
    input.classList.add('invalid');
    const msg = el('p', { class: 'field-error', dataset: { errorFor: f.field } }, `${f.field} ${f.message}`);
    // Inside the input's label when it has one, so that grids of fields keep their shape.
    const label = input.closest('label');
    if (label) label.append(msg); else input.after(msg);
  }
  if (general) {
    clear(general, unclaimed.map((f) => el('p', { class: 'field-error', dataset: { errorFor: f.field } }, `${f.field} ${f.message}`)));
  }
  const first = form.querySelector('.invalid');
  if (first) first.scrollIntoView({ block: 'center' });
  return unclaimed;
}

export function clearFieldErrors(form) {
  form.querySelectorAll('.field-error[data-error-for]').forEach((n) => n.remove());
  form.querySelectorAll('.invalid').forEach((n) => n.classList.remove('invalid'));
}

export function empty(msg, ...actions) {
  return el('div', { class: 'empty' }, el('p', {}, msg), actions.length ? el('div', { class: 'row', style: 'justify-content:center' }, actions) : null);
}

export function pill(on, yes = 'enabled', no = 'disabled') {
  return el('span', { class: `pill ${on ? 'on' : 'off'}` }, on ? yes : no);
}

export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

// lines splits a textarea into trimmed, non-empty lines.
export function lines(s) { return s.split('\n').map((x) => x.trim()).filter(Boolean); }

// headerLines turns "Name: value" lines into an object, and back.
export function parseHeaders(s) {
  const out = {};
  for (const l of lines(s)) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i).trim()] = l.slice(i + 1).trim();
    else out[l] = '';
  }
  return out;
}
export function formatHeaders(o) { return Object.entries(o || {}).map(([k, v]) => `${k}: ${v}`).join('\n'); }

// randomSecret returns n letters and digits from crypto.getRandomValues (rejection sampling).
export function randomSecret(n = 64) {
  const abc = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const out = [];
  const buf = new Uint8Array(n * 2);
  while (out.length < n) {
    crypto.getRandomValues(buf);
    for (const b of buf) if (b < 248 && out.length < n) out.push(abc[b % abc.length]);
  }
  return out.join('');
}

// copyButton copies text to the clipboard and says so.
export function copyButton(text, label = 'Copy') {
  const b = el('button', { type: 'button', onclick: async () => {
    try {
      await navigator.clipboard.writeText(text);
      toast('Copied to the clipboard', 'ok');
    } catch {
      // Clipboard API refused (not a secure context): select the text instead.
      const range = document.createRange();
      range.selectNodeContents(b.previousElementSibling || b);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      toast('Press Ctrl+C to copy the selected text');
    }
  } }, label);
  return b;
}

// parsePrometheus reads the text format into [{name, labels, value}].
export function parsePrometheus(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[2]) {
      for (const lm of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
