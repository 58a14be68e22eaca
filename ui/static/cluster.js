// The Cluster page: the workers a leader sees (GET /api/cluster/members), refreshed every 2 s.
import { APIError, api, clear, el, empty, fmtNum, pill } from './lib.js';

const ago = (ms) => (ms < 1000 ? `${ms} ms` : `${fmtNum(ms / 1000, 1)} s`);

export async function render(main) {
  const box = el('div', { id: 'cluster-members' });
  main.append(el('h1', {}, 'Cluster'), box);
  const load = async () => {
    let members;
    try {
      members = await api('GET', '/api/cluster/members');
    } catch (e) {
      if (e instanceof APIError && e.status === 404) {
        clear(box, empty('This node is not a cluster leader. Start it with torii serve --cluster-leader, then start workers with torii worker --leader.'));
        return false;
      }
      throw e;
    }
    if (members.length === 0) {
      clear(box, empty('No worker has called this leader yet. Start one with torii worker --leader http://<this admin address> --cluster-key-file <the cluster key file>.'));
      return true;
    }
    const now = Date.now();
    clear(box, el('div', { class: 'table-wrap' }, el('table', { class: 'list' },
      el('thead', {}, el('tr', {}, ['Name', 'Address', 'Version', 'Health', 'Last seen', 'State age', 'Leases held', 'Redis calls', 'Redis']
        .map((h) => el('th', {}, h)))),
      el('tbody', {}, members.map((m) => el('tr', { dataset: { id: m.id } },
        el('td', {}, m.name),
        el('td', { class: 'mono' }, `${m.address}:${m.httpPort}`),
        el('td', {}, m.version),
        el('td', {}, el('span', { class: `pill ${m.health === 'green' ? 'on' : 'off'}` }, m.health)),
        el('td', {}, `${ago(Math.max(now - m.lastSeen, 0))} ago`),
        el('td', {}, m.stateFrom ? ago(m.stateAgeMs) : 'no state'),
        el('td', {}, fmtNum(m.leases)),
        el('td', {}, fmtNum(m.redisCalls)),
        el('td', {}, m.redis === 'off' ? 'not used' : pill(m.redis === 'up', 'reachable', 'unreachable'))))))));
    return true;
  };
  if (!(await load())) return null;
  const timer = setInterval(() => { load().catch(() => {}); }, 2000);
  return () => clearInterval(timer);
}
