// Lists and detail pages of every resource the dashboard shows.

import { h, replace, badge, shortID, display, alertBox } from './dom.js';
import * as api from './api.js';
import { StatsPanel } from './charts.js';
import { editable, editButton } from './edit.js';

const OCTAVIA = '/v2/lbaas';
const MEMBER_CHARTS = 8; // member charts drawn on a pool's page

// kinds describes each listed resource: where it lives, its keys, the
// columns of its list, who may delete it.
const kinds = {
  loadbalancers: { title: 'Load balancers', one: 'Load balancer', path: OCTAVIA + '/loadbalancers', key: 'loadbalancers', item: 'loadbalancer',
    cols: ['vip_address', 'provider', 'provisioning_status', 'operating_status'], write: 'write' },
  listeners: { title: 'Listeners', one: 'Listener', path: OCTAVIA + '/listeners', key: 'listeners', item: 'listener',
    cols: ['protocol', 'protocol_port', 'loadbalancers', 'default_pool_id', 'provisioning_status', 'operating_status'], write: 'write' },
  pools: { title: 'Pools', one: 'Pool', path: OCTAVIA + '/pools', key: 'pools', item: 'pool',
    cols: ['protocol', 'lb_algorithm', 'loadbalancers', 'members', 'provisioning_status', 'operating_status'], write: 'write' },
  healthmonitors: { title: 'Health monitors', one: 'Health monitor', path: OCTAVIA + '/healthmonitors', key: 'healthmonitors', item: 'healthmonitor',
    cols: ['type', 'delay', 'timeout', 'max_retries', 'pools', 'provisioning_status', 'operating_status'], write: 'write' },
  l7policies: { title: 'L7 policies', one: 'L7 policy', path: OCTAVIA + '/l7policies', key: 'l7policies', item: 'l7policy',
    cols: ['action', 'position', 'listener_id', 'redirect_pool_id', 'redirect_url', 'provisioning_status', 'operating_status'], write: 'write' },
  floatingips: { title: 'Floating IPs', one: 'Floating IP', path: '/networking/v2.0/floatingips', key: 'floatingips', item: 'floatingip',
    cols: ['floating_ip_address', 'fixed_ip_address', 'port_id', 'status'], write: 'write', label: (o) => o.floating_ip_address },
  amphorae: { title: 'Amphorae', one: 'Amphora', path: '/v2/octavia/amphorae', key: 'amphorae', item: 'amphora',
    cols: ['compute_id', 'loadbalancer_id', 'role', 'status', 'lb_network_ip', 'ha_ip'], write: 'admin', admin: true, label: (o) => o.id },
  flavors: { title: 'Flavors', one: 'Flavor', path: OCTAVIA + '/flavors', key: 'flavors', item: 'flavor',
    cols: ['description', 'flavor_profile_id', 'enabled'], write: 'admin', admin: true },
  flavorprofiles: { title: 'Flavor profiles', one: 'Flavor profile', path: OCTAVIA + '/flavorprofiles', key: 'flavorprofiles', item: 'flavorprofile',
    cols: ['provider_name', 'flavor_data'], write: 'admin', admin: true },
  availabilityzones: { title: 'Availability zones', one: 'Availability zone', path: OCTAVIA + '/availabilityzones', key: 'availability_zones', item: 'availability_zone',
    cols: ['description', 'availability_zone_profile_id', 'enabled'], write: 'admin', admin: true, id: (o) => o.name },
  availabilityzoneprofiles: { title: 'Availability zone profiles', one: 'Availability zone profile', path: OCTAVIA + '/availabilityzoneprofiles',
    key: 'availability_zone_profiles', item: 'availability_zone_profile', cols: ['provider_name', 'availability_zone_data'], write: 'admin', admin: true },
};

// refs maps attribute names to the page their ids open.
const refs = {
  loadbalancer_id: 'loadbalancers', loadbalancers: 'loadbalancers',
  listener_id: 'listeners', listeners: 'listeners',
  pool_id: 'pools', default_pool_id: 'pools', redirect_pool_id: 'pools', pools: 'pools',
  healthmonitor_id: 'healthmonitors', l7policies: 'l7policies',
  flavor_id: 'flavors', flavor_profile_id: 'flavorprofiles',
};

function idOf(kind, o) { return kind.id ? kind.id(o) : o.id; }
function labelOf(kind, o) { return (kind.label ? kind.label(o) : o.name) || idOf(kind, o); }

// value renders one attribute of an object; ids become links.
function value(k, v, owner) {
  if (k.endsWith('_status')) return badge(v);
  const link = (hash, id) => h('a', { href: hash }, shortID(id));
  if (k === 'members' && owner) return Array.isArray(v) ? joinNodes(v.map((m) => link(`#/pools/${owner}/members/${m.id}`, m.id))) : display(v);
  if (k === 'rules' && owner) return Array.isArray(v) ? joinNodes(v.map((r) => link(`#/l7policies/${owner}/rules/${r.id}`, r.id))) : display(v);
  const to = refs[k];
  if (to && (to !== 'flavors' || api.can('admin')) && (to !== 'flavorprofiles' || api.can('admin'))) {
    if (typeof v === 'string' && v) return link(`#/${to}/${v}`, v);
    if (Array.isArray(v)) return v.length ? joinNodes(v.map((o) => link(`#/${to}/${o.id}`, o.id))) : h('span', { class: 'muted' }, '—');
  }
  return display(v);
}

function joinNodes(nodes) {
  const out = [];
  nodes.forEach((n, i) => { if (i) out.push(', '); out.push(n); });
  return h('span', null, out);
}

function table(head, rows) {
  return h('table', null, h('thead', null, h('tr', null, head.map((c) => h('th', null, c)))), h('tbody', null, rows));
}

// attrTable shows every attribute of an object.
function attrTable(obj, owner) {
  return h('table', { class: 'attrs' }, h('tbody', null, Object.keys(obj).sort().map((k) =>
    h('tr', { 'data-attr': k }, h('th', null, k), h('td', null, value(k, obj[k], owner))))));
}

// deleteButton asks once more, then runs del; only shown to callers whose
// roles allow the write.
function deleteButton(c, what, del, extra) {
  const extraLabel = extra ? h('label', null, extra, ' with everything in it') : null;
  return confirmButton({ action: 'delete', label: 'Delete', question: `Delete ${what}?`, extra: extraLabel, yes: 'Yes, delete',
    // No poll may race the delete and meet a 404.
    run: () => { c.stop(); return del(extra ? extra.checked : false); } });
}

// failoverButton asks once more, then asks the API for a failover; the
// page's polling shows the load balancer going through PENDING_UPDATE.
function failoverButton(what, path) {
  return confirmButton({ action: 'failover', label: 'Failover', question: `Fail ${what} over?`, yes: 'Yes, fail over',
    run: () => api.call('PUT', path + '/failover'), done: 'Failover requested.' });
}

// confirmButton is a button that asks once more before it runs: a
// refusal's message replaces it; done (if any) is shown on success.
function confirmButton({ action, label, question, extra, yes, run, done }) {
  const wrap = h('span', { class: 'confirm', 'data-write': '' });
  const ask = () => {
    const ok = h('button', { class: 'danger', 'data-action': 'confirm-' + action, on: { click: async () => {
      ok.disabled = true;
      try {
        await run();
      } catch (e) {
        replace(wrap, alertBox(e.message));
        return;
      }
      if (done) replace(wrap, h('span', { class: 'muted', 'data-done': action }, done));
    } } }, yes);
    replace(wrap, question, extra || null, ok, h('button', { class: 'secondary', on: { click: reset } }, 'Cancel'));
  };
  const reset = () => replace(wrap, h('button', { class: 'danger', 'data-action': action, on: { click: ask } }, label));
  reset();
  return wrap;
}

function listTable(kind, items, hashOf) {
  return table(['name', 'id', ...kind.cols], items.map((o) => h('tr', { 'data-id': idOf(kind, o) },
    h('td', { class: 'name' }, h('a', { href: hashOf(o) }, labelOf(kind, o))),
    h('td', null, shortID(idOf(kind, o))),
    kind.cols.map((k) => h('td', { 'data-col': k }, value(k, o[k], o.id))))));
}

function denied(c) {
  replace(c.main, h('h1', null, 'Not permitted'), h('p', { class: 'note' }, 'Your roles in this project do not include this page.'));
}

async function list(c, name) {
  const kind = Object.hasOwn(kinds, name) ? kinds[name] : null;
  if (!kind) return replace(c.main, alertBox('No such page: ' + name));
  if (kind.admin && !api.can('admin')) return denied(c);
  const body = h('div', { id: 'list' });
  replace(c.main,
    h('h1', null, kind.title),
    name === 'loadbalancers' && api.can('write')
      ? h('div', { class: 'toolbar' }, h('a', { class: 'button', href: '#/wizard', 'data-write': '' }, 'Create load balancer'))
      : null,
    body);
  await c.every(3000, async () => {
    const items = await api.list(kind.path, kind.key, { signal: c.signal });
    c.clearError();
    replace(body, items.length ? listTable(kind, items, (o) => `#/${name}/${idOf(kind, o)}`)
      : h('p', { class: 'muted', 'data-empty': '' }, `No ${kind.title.toLowerCase()} in this project.`));
  });
}

async function detail(c, name, id) {
  const kind = Object.hasOwn(kinds, name) ? kinds[name] : null;
  if (!kind) return replace(c.main, alertBox('No such page: ' + name));
  if (kind.admin && !api.can('admin')) return denied(c);
  const path = `${kind.path}/${encodeURIComponent(id)}`;
  const title = h('h1');
  const attrs = h('div', { id: 'attrs' });
  const toolbar = h('div', { class: 'toolbar' });
  const editBox = h('div', { id: 'edit' });
  const extra = h('div');
  replace(c.main, title, toolbar, editBox, attrs, extra);
  let first = true;
  let latest = null;
  const panels = [];
  await c.every(3000, async () => {
    const obj = (await api.get(path, { signal: c.signal }))[kind.item];
    latest = obj;
    c.clearError();
    replace(title, `${kind.one} `, h('span', { class: 'name' }, labelOf(kind, obj)));
    replace(attrs, attrTable(obj, obj.id));
    if (!first) return;
    first = false;
    if (name === 'loadbalancers') {
      replace(toolbar, h('a', { class: 'button secondary', href: `#/loadbalancers/${id}/status` }, 'Status tree'));
      panels.push(new StatsPanel(`Load balancer ${labelOf(kind, obj)}`, path + '/stats'));
      for (const l of obj.listeners || []) panels.push(new StatsPanel(`Listener ${l.id.split('-')[0]}`, `${OCTAVIA}/listeners/${l.id}/stats`));
    } else if (name === 'listeners') {
      panels.push(new StatsPanel(`Listener ${labelOf(kind, obj)}`, path + '/stats'));
    }
    if (api.can(kind.write) && editable(name)) toolbar.append(editButton(name, kind.item, () => latest, path, editBox));
    if (api.can(kind.write)) {
      const cascade = name === 'loadbalancers' ? h('input', { type: 'checkbox', id: 'cascade', checked: true }) : null;
      toolbar.append(deleteButton(c, labelOf(kind, obj), async (withChildren) => {
        await api.call('DELETE', path + (withChildren ? '?cascade=true' : ''));
        c.go('#/' + name);
      }, cascade));
    }
    if ((name === 'loadbalancers' || name === 'amphorae') && api.can('admin')) toolbar.append(failoverButton(labelOf(kind, obj), path));
    if (name === 'pools') {
      // Each member's counters (fulcrum's member /stats), for the first few members.
      const ms = await api.list(`${OCTAVIA}/pools/${obj.id}/members`, 'members', { signal: c.signal });
      for (const m of ms.slice(0, MEMBER_CHARTS)) {
        panels.push(new StatsPanel(`Member ${m.name || m.address + ':' + m.protocol_port}`, `${path}/members/${m.id}/stats`, 'member'));
      }
    }
    if (panels.length) {
      extra.append(h('h2', null, 'Traffic'), h('p', { class: 'muted' },
        'Rates from the /stats counters, polled every 2 s. Member counters are a fulcrum extension of Octavia\'s API.'),
      h('div', { class: 'grid' }, panels.map((p) => p.el)));
      c.every(2000, () => Promise.all(panels.map((p) => p.poll(c.signal))));
    }
    if (name === 'pools') extra.append(await members(c, obj));
    if (name === 'l7policies') extra.append(await rules(c, obj));
  });
}

async function members(c, pool) {
  const box = h('section', { id: 'members' });
  const ms = await api.list(`${OCTAVIA}/pools/${pool.id}/members`, 'members', { signal: c.signal });
  const kind = { cols: ['address', 'protocol_port', 'weight', 'backup', 'provisioning_status', 'operating_status'] };
  replace(box, h('h2', null, 'Members'), ms.length ? listTable(kind, ms, (m) => `#/pools/${pool.id}/members/${m.id}`)
    : h('p', { class: 'muted' }, 'No members.'));
  return box;
}

async function rules(c, policy) {
  const box = h('section', { id: 'rules' });
  const rs = await api.list(`${OCTAVIA}/l7policies/${policy.id}/rules`, 'rules', { signal: c.signal });
  const kind = { cols: ['type', 'compare_type', 'key', 'value', 'invert', 'provisioning_status', 'operating_status'], label: (r) => r.id };
  replace(box, h('h2', null, 'Rules'), rs.length ? listTable(kind, rs, (r) => `#/l7policies/${policy.id}/rules/${r.id}`)
    : h('p', { class: 'muted' }, 'No rules.'));
  return box;
}

// child shows one member or L7 rule (objects addressed under a parent);
// a member's page also draws its traffic.
async function child(c, page, one, item, parentHash, path) {
  const title = h('h1');
  const toolbar = h('div', { class: 'toolbar' }, h('a', { class: 'button secondary', href: parentHash }, 'Back'));
  const editBox = h('div', { id: 'edit' });
  const attrs = h('div', { id: 'attrs' });
  const extra = h('div');
  replace(c.main, title, toolbar, editBox, attrs, extra);
  let first = true;
  let latest = null;
  await c.every(3000, async () => {
    const obj = (await api.get(path, { signal: c.signal }))[item];
    latest = obj;
    c.clearError();
    replace(title, `${one} `, h('span', { class: 'name' }, obj.name || obj.id));
    replace(attrs, attrTable(obj));
    if (first && api.can('write')) {
      toolbar.append(editButton(page, item, () => latest, path, editBox));
      toolbar.append(deleteButton(c, obj.name || obj.id, async () => {
        await api.call('DELETE', path);
        c.go(parentHash);
      }));
    }
    if (first && page === 'members') {
      const panel = new StatsPanel(`Member ${obj.name || obj.id}`, path + '/stats', 'member');
      extra.append(h('h2', null, 'Traffic'), h('p', { class: 'muted' },
        'Connections (TCP) or requests (HTTP) sent to this member and failed connection attempts, polled every 2 s (a fulcrum extension of Octavia\'s API).'),
      h('div', { class: 'grid' }, panel.el));
      c.every(2000, () => panel.poll(c.signal));
    }
    first = false;
  });
}

function member(c, poolID, id) {
  return child(c, 'members', 'Member', 'member', `#/pools/${poolID}`, `${OCTAVIA}/pools/${encodeURIComponent(poolID)}/members/${encodeURIComponent(id)}`);
}

function rule(c, policyID, id) {
  return child(c, 'rules', 'L7 rule', 'rule', `#/l7policies/${policyID}`, `${OCTAVIA}/l7policies/${encodeURIComponent(policyID)}/rules/${encodeURIComponent(id)}`);
}

// refID is the id at the end of a Barbican reference URL.
function refID(ref) { return String(ref || '').split('/').pop(); }

async function certificates(c) {
  const secrets = h('div', { id: 'secrets' });
  const containers = h('div', { id: 'containers' });
  replace(c.main, h('h1', null, 'Certificates'),
    h('p', { class: 'muted' }, 'Secrets and certificate containers of the key manager (Barbican subset). Payloads are never shown.'),
    h('h2', null, 'Secrets'), secrets, h('h2', null, 'Containers'), containers);
  await c.every(5000, async () => {
    const [ss, cs] = await Promise.all([
      api.list('/key-manager/v1/secrets?limit=100', 'secrets', { signal: c.signal }),
      api.list('/key-manager/v1/containers?limit=100', 'containers', { signal: c.signal }),
    ]);
    c.clearError();
    replace(secrets, ss.length ? table(['name', 'id', 'secret_type', 'algorithm', 'status', 'expiration', 'created'],
      ss.map((x) => h('tr', { 'data-id': refID(x.secret_ref) },
        h('td', { class: 'name' }, h('a', { href: '#/secrets/' + refID(x.secret_ref) }, x.name || refID(x.secret_ref))),
        h('td', null, shortID(refID(x.secret_ref))),
        ['secret_type', 'algorithm', 'status', 'expiration', 'created'].map((k) => h('td', null, display(x[k]))))))
      : h('p', { class: 'muted' }, 'No secrets.'));
    replace(containers, cs.length ? table(['name', 'id', 'type', 'secrets', 'status', 'created'],
      cs.map((x) => h('tr', { 'data-id': refID(x.container_ref) },
        h('td', { class: 'name' }, h('a', { href: '#/containers/' + refID(x.container_ref) }, x.name || refID(x.container_ref))),
        h('td', null, shortID(refID(x.container_ref))),
        h('td', null, display(x.type)),
        h('td', null, joinNodes((x.secret_refs || []).map((r) => h('a', { href: '#/secrets/' + refID(r.secret_ref) }, r.name || shortID(refID(r.secret_ref)))))),
        h('td', null, display(x.status)), h('td', null, display(x.created)))))
      : h('p', { class: 'muted' }, 'No containers.'));
  });
}

async function keyManagerItem(c, what, id) {
  const path = `/key-manager/v1/${what}/${encodeURIComponent(id)}`;
  const obj = await api.get(path, { signal: c.signal });
  const one = what === 'secrets' ? 'Secret' : 'Container';
  const shown = Object.assign({}, obj);
  delete shown.payload; // metadata only, whatever the server sends
  const toolbar = h('div', { class: 'toolbar' }, h('a', { class: 'button secondary', href: '#/certificates' }, 'Back'));
  if (api.can('write')) {
    toolbar.append(deleteButton(c, obj.name || id, async () => {
      await api.call('DELETE', path);
      c.go('#/certificates');
    }));
  }
  const rows = Object.keys(shown).sort().map((k) => h('tr', { 'data-attr': k }, h('th', null, k), h('td', null,
    k === 'secret_refs' && Array.isArray(shown[k])
      ? joinNodes(shown[k].map((r) => h('a', { href: '#/secrets/' + refID(r.secret_ref) }, `${r.name}: ${refID(r.secret_ref)}`)))
      : display(shown[k]))));
  replace(c.main, h('h1', null, `${one} `, h('span', { class: 'name' }, obj.name || id)), toolbar,
    h('table', { class: 'attrs' }, h('tbody', null, rows)));
}

// agents groups the amphorae (placements of load balancers) by the agent
// that serves them: an amphora's compute_id is its agent's name.
async function agents(c) {
  if (!api.can('admin')) return denied(c);
  const box = h('div');
  replace(c.main, h('h1', null, 'Agents & amphorae'),
    h('p', { class: 'muted' }, 'Each amphora is a load balancer placed on a data-plane agent; its compute_id names the agent.'), box);
  await c.every(3000, async () => {
    const amps = await api.list('/v2/octavia/amphorae', 'amphorae', { signal: c.signal });
    c.clearError();
    const byAgent = new Map();
    for (const a of amps) {
      const k = a.compute_id || '(unplaced)';
      if (!byAgent.has(k)) byAgent.set(k, []);
      byAgent.get(k).push(a);
    }
    replace(box,
      h('h2', null, 'Agents'),
      byAgent.size ? table(['agent', 'address', 'amphorae', 'load balancers', 'statuses'], [...byAgent].map(([name, as]) =>
        h('tr', { 'data-agent': name }, h('td', null, name), h('td', null, display(as[0].lb_network_ip)), h('td', null, String(as.length)),
          h('td', null, joinNodes(as.filter((a) => a.loadbalancer_id).map((a) => h('a', { href: '#/loadbalancers/' + a.loadbalancer_id }, shortID(a.loadbalancer_id))))),
          h('td', null, joinNodes([...new Set(as.map((a) => a.status))].map(badge))))))
        : h('p', { class: 'muted' }, 'No load balancer is placed on an agent.'),
      h('h2', null, 'Amphorae'),
      amps.length ? listTable(kinds.amphorae, amps, (a) => '#/amphorae/' + a.id) : h('p', { class: 'muted' }, 'No amphorae.'));
  });
}

const QUOTA_KEYS = ['load_balancer', 'listener', 'pool', 'health_monitor', 'member', 'l7policy', 'l7rule'];

async function quotas(c) {
  if (!api.can('quota')) return denied(c);
  const box = h('div');
  replace(c.main, h('h1', null, 'Quotas'), h('p', { class: 'muted' }, '-1 is unlimited; an empty cell uses the default.'), box);
  await c.every(5000, async () => {
    const [rows, defaults] = await Promise.all([
      api.list(OCTAVIA + '/quotas', 'quotas', { signal: c.signal }),
      api.get(OCTAVIA + '/quotas/defaults', { signal: c.signal }),
    ]);
    c.clearError();
    const d = defaults.quota || {};
    replace(box, table(['project', ...QUOTA_KEYS], [
      h('tr', { 'data-project': 'defaults' }, h('td', null, h('b', null, 'defaults')), QUOTA_KEYS.map((k) => h('td', null, display(d[k])))),
      ...rows.map((q) => h('tr', { 'data-project': q.project_id }, h('td', null, shortID(q.project_id)),
        QUOTA_KEYS.map((k) => h('td', null, q[k] === null || q[k] === undefined ? '' : String(q[k]))))),
    ]));
  });
}

export const pages = { list, detail, member, rule, certificates, keyManagerItem, agents, quotas };
