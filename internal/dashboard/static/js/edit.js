// Edit forms: the attributes Octavia lets a client change with PUT, filled
// with the object's current values. Only the fields the user changed are
// sent, as typed (a whole number is sent as a number); the API checks them
// and its refusal is shown under the field it names.

import { h, replace } from './dom.js';
import * as api from './api.js';
import { field, showError, clearErrors } from './form.js';

const text = (name, label, more) => Object.assign({ name, label }, more);
const num = (name, label, more) => Object.assign({ name, label, num: true }, more);
const flag = (name, label) => ({ name, label, checkbox: true });
const choice = (name, label, options) => ({ name, label, options: options.map((o) => [o, o]) });
const nullable = { nullable: true };
const httpMonitor = (o) => o.type === 'HTTP' || o.type === 'HTTPS';

const common = [text('name', 'Name'), text('description', 'Description'), flag('admin_state_up', 'Enabled')];

// FIELDS are the editable attributes per page (Octavia's PUT bodies).
const FIELDS = {
  loadbalancers: common,
  listeners: [...common,
    num('connection_limit', 'Connection limit', { help: '-1: unlimited.' }),
    text('default_pool_id', 'Default pool id', nullable),
    num('timeout_client_data', 'Client data timeout (ms)'),
    num('timeout_member_connect', 'Member connect timeout (ms)'),
    num('timeout_member_data', 'Member data timeout (ms)'),
    num('timeout_tcp_inspect', 'TCP inspect timeout (ms)')],
  pools: [...common, choice('lb_algorithm', 'Algorithm', ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP', 'SOURCE_IP_PORT'])],
  healthmonitors: [text('name', 'Name'), flag('admin_state_up', 'Enabled'),
    num('delay', 'Delay (s)'), num('timeout', 'Timeout (s)'), num('max_retries', 'Max retries'),
    num('max_retries_down', 'Max retries down'),
    text('url_path', 'URL path', { when: httpMonitor }), text('expected_codes', 'Expected codes', { when: httpMonitor }),
    text('http_method', 'HTTP method', { when: httpMonitor })],
  l7policies: [...common,
    choice('action', 'Action', ['REDIRECT_TO_POOL', 'REDIRECT_TO_URL', 'REDIRECT_PREFIX', 'REJECT']),
    num('position', 'Position'),
    text('redirect_pool_id', 'Redirect pool id', nullable), text('redirect_url', 'Redirect URL', nullable),
    text('redirect_prefix', 'Redirect prefix', nullable), num('redirect_http_code', 'Redirect HTTP code', nullable)],
  members: [text('name', 'Name'), flag('admin_state_up', 'Enabled'), num('weight', 'Weight'), flag('backup', 'Backup'),
    text('monitor_address', 'Monitor address', nullable), num('monitor_port', 'Monitor port', nullable)],
  rules: [choice('type', 'Type', ['HOST_NAME', 'PATH', 'FILE_TYPE', 'HEADER', 'COOKIE', 'SSL_CONN_HAS_CERT', 'SSL_VERIFY_RESULT', 'SSL_DN_FIELD']),
    choice('compare_type', 'Compare type', ['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO']),
    text('key', 'Key', nullable), text('value', 'Value'), flag('invert', 'Invert'), flag('admin_state_up', 'Enabled')],
  flavors: [text('name', 'Name'), text('description', 'Description'), flag('enabled', 'Enabled')],
  availabilityzones: [text('description', 'Description'), flag('enabled', 'Enabled')],
};

export function editable(page) { return Object.hasOwn(FIELDS, page); }

function current(v) { return v === null || v === undefined ? '' : String(v); }

// changes reads the form: the fields whose value differs from obj's.
function changes(form, fields, obj) {
  const out = {};
  for (const f of fields) {
    const el = form.elements[f.name];
    if (f.checkbox) {
      if (el.checked !== Boolean(obj[f.name])) out[f.name] = el.checked;
      continue;
    }
    const v = el.value.trim();
    if (v === current(obj[f.name])) continue;
    if (v === '') out[f.name] = f.nullable ? null : '';
    else out[f.name] = f.num && /^-?[0-9]+$/.test(v) ? Number(v) : v;
  }
  return out;
}

// editButton opens, in box, a form filled from the object as last read
// (latest()) that changes it with PUT path {item: changes}.
export function editButton(page, item, latest, path, box) {
  const open = () => {
    const obj = latest();
    const fields = FIELDS[page].filter((f) => !f.when || f.when(obj))
      .map((f) => Object.assign({}, f, { value: f.checkbox ? Boolean(obj[f.name]) : current(obj[f.name]) }));
    const formError = h('div');
    const status = h('span', { class: 'muted', 'data-edit-status': '' });
    const form = h('form', { class: 'card', novalidate: true, id: 'edit-form' },
      fields.map(field), formError,
      h('div', { class: 'toolbar' },
        h('button', { type: 'submit', 'data-action': 'save' }, 'Save'),
        h('button', { type: 'button', class: 'secondary', 'data-action': 'cancel-edit', on: { click: () => replace(box) } }, 'Cancel'),
        status));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form, formError);
      const body = changes(form, fields, obj);
      if (!Object.keys(body).length) {
        replace(status, 'Nothing changed.');
        return;
      }
      const btn = form.querySelector('button[type=submit]');
      btn.disabled = true;
      try {
        await api.call('PUT', path, { [item]: body });
      } catch (e) {
        if (e.name !== 'AbortError') showError(form, fields, formError, e);
        return;
      } finally {
        btn.disabled = false;
      }
      replace(box, h('p', { class: 'muted', 'data-saved': '' }, 'Saved: ' + Object.keys(body).join(', ') + '.'));
    });
    replace(box, form);
    const first = form.querySelector('input,select');
    if (first) first.focus();
  };
  return h('button', { class: 'secondary', 'data-action': 'edit', 'data-write': '', on: { click: open } }, 'Edit');
}
