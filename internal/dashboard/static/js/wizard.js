// The create wizard: load balancer → listener → pool → members → health
// monitor, one API create per step. The dashboard checks nothing itself:
// what the user typed goes to the API as typed (Octavia takes numbers as
// numeric strings), and a refusal's message is shown verbatim next to the
// field it names.

import { h, replace, shortID } from './dom.js';
import * as api from './api.js';
import { field, values, showError, clearErrors } from './form.js';

const OCTAVIA = '/v2/lbaas';
const STEPS = ['Load balancer', 'Listener', 'Pool', 'Members', 'Health monitor', 'Done'];

export async function wizard(c) {
  if (!api.can('write')) {
    replace(c.main, h('h1', null, 'Not permitted'), h('p', { class: 'note' }, 'Your roles in this project do not allow changes.'));
    return;
  }
  const [subnets, flavors, secrets, containers] = await Promise.all([
    api.list('/networking/v2.0/subnets', 'subnets', { signal: c.signal }),
    api.list(OCTAVIA + '/flavors', 'flavors', { signal: c.signal }).catch(() => []),
    // Certificates for TERMINATED_HTTPS: PKCS#12 secrets and certificate
    // containers of the key manager; a caller who may not read them gets
    // an empty choice and the API's refusal if one is needed.
    api.list('/key-manager/v1/secrets?limit=100', 'secrets', { signal: c.signal }).catch(() => []),
    api.list('/key-manager/v1/containers?limit=100', 'containers', { signal: c.signal }).catch(() => []),
  ]);
  const certificates = [
    ...secrets.filter((x) => x.secret_ref).map((x) => [x.secret_ref, `secret ${x.name || x.secret_ref.split('/').pop()}`]),
    ...containers.filter((x) => x.container_ref && x.type === 'certificate')
      .map((x) => [x.container_ref, `container ${x.name || x.container_ref.split('/').pop()}`]),
  ];
  const made = { loadbalancer: null, listener: null, pool: null, members: [], healthmonitor: null };
  const steps = h('ol', { class: 'steps' });
  const body = h('div', { id: 'wizard' });
  replace(c.main, h('h1', null, 'Create a load balancer'), steps, body);

  const show = (i, content) => {
    replace(steps, STEPS.map((s, j) => h('li', { class: j < i ? 'done' : j === i ? 'current' : null }, `${j + 1}. ${s}`)));
    replace(body, content);
    body.setAttribute('data-step', STEPS[i]);
  };

  // step draws a form; submit(values) creates the object and returns the
  // next step to show.
  const step = (i, fields, label, submit, extraButtons, before) => {
    const stepError = h('div');
    const form = h('form', { class: 'card', novalidate: true, 'data-step-form': STEPS[i] },
      before || null, fields.map(field), stepError,
      h('div', { class: 'toolbar' }, h('button', { type: 'submit', 'data-action': 'next' }, label), extraButtons || null));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form, stepError);
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        await submit(values(form, fields), form);
      } catch (e) {
        if (e.name !== 'AbortError') showError(form, fields, stepError, e);
      } finally {
        btn.disabled = false;
      }
    });
    show(i, form);
    const first = form.querySelector('input,select');
    if (first) first.focus();
  };

  const lbStep = () => step(0, [
    { name: 'name', label: 'Name' },
    { name: 'description', label: 'Description' },
    { name: 'vip_subnet_id', label: 'VIP subnet', options: [['', '(choose a subnet)'], ...subnets.map((s) => [s.id, `${s.name || s.id} (${s.cidr})`])],
      value: (subnets.find((s) => s.name === 'private-subnet') || {}).id },
    { name: 'vip_address', label: 'VIP address', help: 'Optional: an address of the subnet.' },
    { name: 'flavor_id', label: 'Flavor', options: [['', '(default)'], ...flavors.filter((f) => f.enabled).map((f) => [f.id, f.name || f.id])] },
    { name: 'admin_state_up', label: 'Enabled', checkbox: true },
  ], 'Create load balancer', async (v) => {
    made.loadbalancer = (await api.call('POST', OCTAVIA + '/loadbalancers', { loadbalancer: v })).loadbalancer;
    listenerStep();
  });

  const listenerStep = () => step(1, [
    { name: 'name', label: 'Name' },
    { name: 'protocol', label: 'Protocol', value: 'HTTP', options: ['HTTP', 'HTTPS', 'TERMINATED_HTTPS', 'TCP', 'UDP', 'SCTP', 'PROMETHEUS'].map((p) => [p, p]) },
    { name: 'protocol_port', label: 'Port', placeholder: '80' },
    { name: 'connection_limit', label: 'Connection limit', help: '-1 or empty: unlimited.' },
    { name: 'default_tls_container_ref', label: 'Certificate (TERMINATED_HTTPS)', options: [['', '(none)'], ...certificates],
      help: 'A PKCS#12 secret or a certificate container of the key manager (see Certificates).' },
  ], 'Create listener', async (v) => {
    v.loadbalancer_id = made.loadbalancer.id;
    made.listener = (await api.call('POST', OCTAVIA + '/listeners', { listener: v })).listener;
    poolStep();
  }, finishButton());

  const poolStep = () => step(2, [
    { name: 'name', label: 'Name' },
    { name: 'protocol', label: 'Protocol', value: { TERMINATED_HTTPS: 'HTTP', PROMETHEUS: 'HTTP' }[made.listener.protocol] || made.listener.protocol,
      options: ['HTTP', 'HTTPS', 'TCP', 'UDP', 'SCTP', 'PROXY', 'PROXYV2'].map((p) => [p, p]) },
    { name: 'lb_algorithm', label: 'Algorithm', value: 'ROUND_ROBIN', options: ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP', 'SOURCE_IP_PORT'].map((p) => [p, p]) },
    { name: 'session_persistence', label: 'Session persistence', options: [['', 'none'], ['SOURCE_IP', 'SOURCE_IP'], ['HTTP_COOKIE', 'HTTP_COOKIE'], ['APP_COOKIE', 'APP_COOKIE']] },
    { name: 'cookie_name', label: 'Cookie name (APP_COOKIE)' },
  ], 'Create pool', async (v) => {
    const body = { name: v.name, protocol: v.protocol, lb_algorithm: v.lb_algorithm, listener_id: made.listener.id };
    if (v.session_persistence || v.cookie_name) body.session_persistence = { type: v.session_persistence || null, cookie_name: v.cookie_name };
    made.pool = (await api.call('POST', OCTAVIA + '/pools', { pool: body })).pool;
    membersStep();
  }, finishButton());

  const membersStep = () => {
    const added = h('div', { id: 'added-members' }, made.members.length ? null : h('p', { class: 'muted' }, 'No members yet.'));
    const redraw = () => replace(added, h('table', null, h('thead', null, h('tr', null, ['address', 'port', 'weight', 'id'].map((x) => h('th', null, x)))),
      h('tbody', null, made.members.map((m) => h('tr', { 'data-id': m.id }, h('td', null, m.address), h('td', null, String(m.protocol_port)),
        h('td', null, String(m.weight)), h('td', null, shortID(m.id)))))));
    if (made.members.length) redraw();
    step(3, [
      { name: 'address', label: 'Address' },
      { name: 'protocol_port', label: 'Port' },
      { name: 'weight', label: 'Weight', placeholder: '1' },
      { name: 'name', label: 'Name' },
    ], 'Add member', async (v, form) => {
      made.members.push((await api.call('POST', `${OCTAVIA}/pools/${made.pool.id}/members`, { member: v })).member);
      for (const n of ['address', 'protocol_port', 'weight', 'name']) form.elements[n].value = '';
      form.elements.address.focus();
      redraw();
    }, h('button', { type: 'button', class: 'secondary', 'data-action': 'members-done', on: { click: monitorStep } }, 'Next: health monitor'), added);
  };

  const monitorStep = () => step(4, [
    { name: 'type', label: 'Type', value: 'HTTP', options: ['HTTP', 'HTTPS', 'TCP', 'PING', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP'].map((p) => [p, p]) },
    { name: 'delay', label: 'Delay (s)', value: '5' },
    { name: 'timeout', label: 'Timeout (s)', value: '3' },
    { name: 'max_retries', label: 'Max retries', value: '3' },
    { name: 'url_path', label: 'URL path (HTTP)', placeholder: '/' },
    { name: 'expected_codes', label: 'Expected codes (HTTP)', placeholder: '200' },
  ], 'Create health monitor', async (v) => {
    v.pool_id = made.pool.id;
    made.healthmonitor = (await api.call('POST', OCTAVIA + '/healthmonitors', { healthmonitor: v })).healthmonitor;
    done();
  }, h('button', { type: 'button', class: 'secondary', 'data-action': 'skip', on: { click: done } }, 'Skip'));

  function finishButton() {
    return h('button', { type: 'button', class: 'secondary', 'data-action': 'finish', on: { click: done } }, 'Finish here');
  }

  function done() {
    const lb = made.loadbalancer;
    const row = (label, o, hash) => o ? h('li', null, `${label}: `, h('a', { href: hash }, o.name || o.id)) : null;
    show(5, h('div', { class: 'card', id: 'wizard-done' },
      h('p', null, 'Created. The load balancer turns ACTIVE as soon as the data plane has applied it.'),
      h('ul', null,
        row('Load balancer', lb, `#/loadbalancers/${lb.id}`),
        row('Listener', made.listener, made.listener && `#/listeners/${made.listener.id}`),
        row('Pool', made.pool, made.pool && `#/pools/${made.pool.id}`),
        made.members.length ? h('li', null, `${made.members.length} member(s)`) : null,
        row('Health monitor', made.healthmonitor, made.healthmonitor && `#/healthmonitors/${made.healthmonitor.id}`)),
      h('div', { class: 'toolbar' },
        h('a', { class: 'button', href: `#/loadbalancers/${lb.id}`, 'data-action': 'open-lb' }, 'Open load balancer'),
        h('a', { class: 'button secondary', href: `#/loadbalancers/${lb.id}/status` }, 'Status tree'))));
  }

  lbStep();
}
