// The dashboard's entry point: the session header, the navigation and a
// hash router (#/kind/id...) that renders one page at a time. A page gets a
// context whose timers and requests stop when the page is left.

import { h, replace, alertBox } from './dom.js';
import * as api from './api.js';
import { pages } from './pages.js';
import { wizard } from './wizard.js';
import { statusTree } from './tree.js';

// Context belongs to one rendering of one page.
class Context {
  constructor(main) {
    this.main = main;
    this.ctl = new AbortController();
    this.timers = new Set();
    this.dead = false;
  }

  get signal() { return this.ctl.signal; }

  // every runs fn now and then every ms until the page is left; an error
  // is shown in the page rather than thrown.
  every(ms, fn, onError) {
    const run = async () => {
      if (this.dead) return;
      try {
        await fn();
      } catch (e) {
        if (e.name === 'AbortError' || this.dead) return;
        (onError || ((err) => this.fail(err)))(e);
      }
      if (!this.dead) {
        const t = setTimeout(() => { this.timers.delete(t); run(); }, ms);
        this.timers.add(t);
      }
    };
    return run();
  }

  // fail shows an error at the top of the page.
  fail(e) {
    if (this.dead || e.name === 'AbortError') return;
    let box = this.main.querySelector(':scope > .alert.page-error');
    if (!box) {
      box = alertBox('');
      box.classList.add('page-error');
      this.main.prepend(box);
    }
    box.textContent = e.message;
  }

  clearError() {
    const box = this.main.querySelector(':scope > .alert.page-error');
    if (box) box.remove();
  }

  // go navigates, stopping this page's work first.
  go(hash) {
    this.stop();
    location.hash = hash;
  }

  stop() {
    this.dead = true;
    this.ctl.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const sessionBox = document.getElementById('session');
let ctx = null;
let projects = null;

const routes = [
  [/^\/loadbalancers\/([^/]+)\/status$/, (c, m) => statusTree(c, m[1])],
  [/^\/wizard$/, (c) => wizard(c)],
  [/^\/pools\/([^/]+)\/members\/([^/]+)$/, (c, m) => pages.member(c, m[1], m[2])],
  [/^\/l7policies\/([^/]+)\/rules\/([^/]+)$/, (c, m) => pages.rule(c, m[1], m[2])],
  [/^\/certificates$/, (c) => pages.certificates(c)],
  [/^\/(secrets|containers)\/([^/]+)$/, (c, m) => pages.keyManagerItem(c, m[1], m[2])],
  [/^\/agents$/, (c) => pages.agents(c)],
  [/^\/quotas$/, (c) => pages.quotas(c)],
  [/^\/([a-z0-9]+)$/, (c, m) => pages.list(c, m[1])],
  [/^\/([a-z0-9]+)\/([^/]+)$/, (c, m) => pages.detail(c, m[1], m[2])],
];

function navLink(hash, label) {
  const here = location.hash || '#/loadbalancers';
  return h('a', { href: hash, class: here === hash || here.startsWith(hash + '/') ? 'active' : null }, label);
}

function drawNav() {
  if (!api.session()) return replace(nav);
  replace(nav,
    h('h2', null, 'Load balancing'),
    navLink('#/loadbalancers', 'Load balancers'),
    navLink('#/listeners', 'Listeners'),
    navLink('#/pools', 'Pools'),
    navLink('#/healthmonitors', 'Health monitors'),
    navLink('#/l7policies', 'L7 policies'),
    api.can('write') ? navLink('#/wizard', 'Create (wizard)') : null,
    h('h2', null, 'Related'),
    navLink('#/certificates', 'Certificates'),
    navLink('#/floatingips', 'Floating IPs'),
    api.can('admin') || api.can('quota') ? h('h2', { 'data-admin': '' }, 'Administration') : null,
    api.can('admin') ? [
      navLink('#/agents', 'Agents & amphorae'),
      navLink('#/flavors', 'Flavors'),
      navLink('#/flavorprofiles', 'Flavor profiles'),
      navLink('#/availabilityzones', 'Availability zones'),
      navLink('#/availabilityzoneprofiles', 'AZ profiles'),
    ] : null,
    api.can('quota') ? navLink('#/quotas', 'Quotas') : null);
}

async function drawSession() {
  const s = api.session();
  if (!s) return replace(sessionBox);
  const select = h('select', { 'aria-label': 'Project', id: 'project-switch' });
  const logout = h('button', { class: 'secondary', id: 'logout', on: { click: doLogout } }, 'Log out');
  replace(sessionBox,
    h('span', { class: 'who' }, s.user.name),
    h('span', { class: 'roles', id: 'roles' }, s.roles.join(', ')),
    select, logout);
  if (!projects) {
    try {
      projects = (await api.get('/identity/v3/auth/projects')).projects || [];
    } catch {
      projects = [];
    }
  }
  const list = projects.length ? projects : [s.project];
  replace(select, list.map((p) => h('option', { value: p.id, selected: p.id === s.project.id }, p.name)));
  select.addEventListener('change', async () => {
    try {
      await api.switchProject(select.value);
      render();
    } catch (e) {
      select.value = s.project.id;
      if (ctx) ctx.fail(e);
    }
  });
}

async function doLogout() {
  if (ctx) ctx.stop();
  projects = null;
  try {
    await api.logout();
  } catch {
    // The token is forgotten either way; an expired one cannot be revoked.
  }
  location.hash = '#/login';
  render();
}

function loginPage(c) {
  const err = h('div');
  const field = (id, label, attrs) => h('div', { class: 'field' },
    h('label', { for: id }, label), h('input', Object.assign({ id, name: id, type: 'text' }, attrs)));
  const form = h('form', { class: 'card login', id: 'login', novalidate: true },
    h('h1', null, 'Log in to fulcrum'),
    field('user', 'User name', { autocomplete: 'username', required: true }),
    field('password', 'Password', { type: 'password', autocomplete: 'current-password', required: true }),
    field('project', 'Project', { placeholder: 'your default project' }),
    field('domain', 'Domain', { value: 'Default' }),
    err,
    h('button', { type: 'submit' }, 'Log in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    const v = (n) => form.elements[n].value.trim();
    try {
      await api.login(v('user'), form.elements.password.value, v('domain') || 'Default', v('project'));
      projects = null;
      form.elements.password.value = '';
      location.hash = '#/loadbalancers';
      render();
    } catch (e) {
      replace(err, alertBox(e.message));
    }
  });
  replace(c.main, form);
  form.elements.user.focus();
}

export function render() {
  if (ctx) ctx.stop();
  ctx = new Context(main);
  const c = ctx;
  drawNav();
  drawSession();
  const path = (location.hash || '#/loadbalancers').replace(/^#/, '') || '/loadbalancers';
  if (!api.session()) {
    loginPage(c);
    return;
  }
  if (path === '/login' || path === '/') {
    location.hash = '#/loadbalancers';
    return;
  }
  replace(main, h('p', { class: 'muted' }, 'Loading…'));
  for (const [re, fn] of routes) {
    const m = path.match(re);
    if (!m) continue;
    Promise.resolve(fn(c, m)).catch((e) => c.fail(e));
    return;
  }
  replace(main, alertBox('No such page: ' + path));
}

api.whenExpired(() => {
  projects = null;
  location.hash = '#/login';
  render();
});
window.addEventListener('hashchange', render);
render();
