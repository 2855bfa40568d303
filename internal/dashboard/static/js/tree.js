// The status tree of a load balancer (GET .../loadbalancers/{id}/status)
// drawn as a tree: load balancer → listeners → pools → health monitor and
// members, each node framed in its operating status's colour.

import { h, replace, badge, shortID } from './dom.js';
import * as api from './api.js';

const STATUSES = ['ONLINE', 'DEGRADED', 'ERROR', 'DRAINING', 'NO_MONITOR', 'OFFLINE'];

function node(kind, obj, hash, extra) {
  const op = obj.operating_status || 'UNKNOWN';
  const label = obj.name || (obj.address ? `${obj.address}:${obj.protocol_port}` : '') || obj.type || obj.id;
  return h('div', { class: 'node ' + op, 'data-kind': kind, 'data-id': obj.id, 'data-op': op },
    h('span', { class: 'kind' }, kind.replace('_', ' ')),
    hash ? h('a', { class: 'name', href: hash }, label) : h('span', { class: 'name' }, label),
    extra || null,
    shortID(obj.id),
    badge(op),
    obj.provisioning_status ? badge(obj.provisioning_status) : null);
}

function pool(p) {
  const kids = [];
  if (p.health_monitor) {
    kids.push(h('li', null, node('health_monitor', p.health_monitor, `#/healthmonitors/${p.health_monitor.id}`,
      p.health_monitor.type ? h('span', { class: 'muted' }, p.health_monitor.type) : null)));
  }
  for (const m of p.members || []) {
    kids.push(h('li', null, node('member', m, `#/pools/${p.id}/members/${m.id}`,
      m.address ? h('code', null, `${m.address}:${m.protocol_port}`) : null)));
  }
  return h('li', null, node('pool', p, `#/pools/${p.id}`), kids.length ? h('ul', null, kids) : null);
}

export async function statusTree(c, id) {
  const box = h('div', { id: 'tree' });
  replace(c.main,
    h('h1', null, 'Status tree'),
    h('div', { class: 'toolbar' }, h('a', { class: 'button secondary', href: `#/loadbalancers/${id}` }, 'Load balancer')),
    h('div', { class: 'legend-row' }, STATUSES.map((s) => badge(s))),
    box);
  await c.every(2000, async () => {
    const st = (await api.get(`/v2/lbaas/loadbalancers/${encodeURIComponent(id)}/status`, { signal: c.signal })).statuses;
    c.clearError();
    const lb = st.loadbalancer;
    replace(box, h('ul', { class: 'tree' }, h('li', null, node('loadbalancer', lb, `#/loadbalancers/${lb.id}`),
      (lb.listeners || []).length ? h('ul', null, lb.listeners.map((l) => h('li', null,
        node('listener', l, `#/listeners/${l.id}`),
        (l.pools || []).length ? h('ul', null, l.pools.map(pool)) : null))) : null)));
  });
}
