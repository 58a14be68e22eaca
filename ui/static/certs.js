// Certificates: Otoroshi's certificate entity (/api/certificates), served by SNI on --listen-tls.
import { api, clear, clearFieldErrors, el, empty, report, showFieldErrors, toast, withBusy } from './lib.js';

const enc = encodeURIComponent;
const day = 24 * 3600 * 1000;

// expiry says when a certificate ends: a warning from 30 days before, as the alerts do.
function expiry(to) {
  if (!to) return el('span', { class: 'pill off' }, 'no chain');
  const left = Math.floor((to - Date.now()) / day);
  const date = new Date(to).toISOString().slice(0, 10);
  if (left < 0) return el('span', { class: 'pill off', title: `ended ${date}` }, `expired ${date}`);
  if (left <= 30) return el('span', { class: 'pill warn', title: `ends ${date}` }, `expires in ${left} d (${date})`);
  return el('span', { class: 'pill on', title: `ends ${date}` }, date);
}

export async function render(main) {
  const box = el('div', { id: 'certs-list' });
  const name = el('input', { name: 'name', dataset: { field: 'name' } });
  const chain = el('textarea', { name: 'chain', rows: 6, class: 'mono', placeholder: '-----BEGIN CERTIFICATE-----', dataset: { field: 'chain' } });
  const key = el('textarea', { name: 'privateKey', rows: 4, class: 'mono', placeholder: '-----BEGIN PRIVATE KEY----- (empty for a CA kept to verify client certificates)', dataset: { field: 'privateKey' } });
  const ca = el('input', { type: 'checkbox', name: 'ca' });
  const general = el('div');
  const save = el('button', { type: 'submit', class: 'primary', id: 'cert-save' }, 'Add certificate');
  const form = el('form', { class: 'card', id: 'cert-form', novalidate: true }, el('h2', {}, 'New certificate'),
    el('label', {}, 'Name', name), el('label', {}, 'Chain (PEM, leaf first)', chain), el('label', {}, 'Private key (PEM)', key),
    el('label', { class: 'check' }, ca, ' CA: verifies the client certificates of mTLS routes'), general, el('div', { class: 'row' }, save));
  main.append(el('h1', {}, 'Certificates'), form, box);
  const load = async () => {
    const certs = await api('GET', '/api/certificates?pageSize=1000');
    if (certs.length === 0) return clear(box, empty('No certificate. HTTPS uses the local CA\'s certificate until one is added here.'));
    clear(box, el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Name'), el('th', { class: 'hide-sm' }, 'Id'), el('th', {}, 'Names'), el('th', {}, 'Kind'), el('th', {}, 'Valid until'), el('th', {}))),
      el('tbody', {}, certs.map((c) => {
        const del = el('button', { class: 'danger' }, 'Delete');
        del.onclick = () => {
          if (!confirm(`Delete the certificate ${c.name || c.id}?`)) return;
          withBusy(del, 'cannot delete the certificate', async () => { await api('DELETE', `/api/certificates/${enc(c.id)}`); toast('Certificate deleted', 'ok'); await load(); });
        };
        const kind = c.ca ? 'CA' : c.client ? 'client' : c.keypair ? 'keypair' : c.letsEncrypt ? 'ACME' : 'server';
        const names = (c.sans && c.sans.length ? c.sans : [c.domain]).join(', ');
        return el('tr', { dataset: { id: c.id } }, el('td', {}, c.name || c.domain || c.id), el('td', { class: 'hide-sm mono' }, c.id),
          el('td', {}, names), el('td', {}, kind), el('td', { class: 'expiry' }, expiry(Number(c.to))), el('td', { class: 'actions' }, del));
      })))));
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    withBusy(save, null, async () => {
      try {
        await api('POST', '/api/certificates', { name: name.value.trim(), chain: chain.value, privateKey: key.value, ca: ca.checked });
        toast('Certificate added', 'ok');
        name.value = chain.value = key.value = '';
        ca.checked = false;
        await load();
      } catch (e) {
        if (e.fields?.length) showFieldErrors(form, e.fields, general);
        report(e, 'cannot add the certificate');
      }
    });
  });
  await load();
  return null;
}
