// The dashboard's only way to the server: public API calls (Octavia v2,
// Keystone, Neutron and Barbican subsets at their normal paths) with the
// user's token in the X-Auth-Token header, never in a URL. The session
// (token, user, project, roles) lives in this tab's sessionStorage.

const KEY = 'fulcrum.dashboard.session';

// APIError is a refused call; message is the API's own text, verbatim.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let current = null;
let onExpired = () => {};

export function session() {
  if (current) return current;
  try {
    current = JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    current = null;
  }
  return current;
}

function save(s) {
  current = s;
  if (s) sessionStorage.setItem(KEY, JSON.stringify(s));
  else sessionStorage.removeItem(KEY);
}

// whenExpired registers what to do when the API says the token is no good.
export function whenExpired(fn) { onExpired = fn; }

// message pulls the human-readable text out of any of the four APIs'
// error bodies.
function message(status, text) {
  let b = null;
  try { b = JSON.parse(text); } catch { /* not JSON */ }
  if (b && typeof b === 'object') {
    if (typeof b.faultstring === 'string') return b.faultstring; // Octavia
    if (b.error && typeof b.error.message === 'string') return b.error.message; // Keystone
    if (b.NeutronError && typeof b.NeutronError.message === 'string') return b.NeutronError.message;
    if (typeof b.description === 'string' && b.description) return b.description; // Barbican
    if (typeof b.title === 'string') return b.title;
    if (Array.isArray(b.errors) && b.errors[0] && b.errors[0].detail) return String(b.errors[0].detail);
  }
  return text.trim() || ('HTTP ' + status);
}

// call sends one request; signal aborts it (a page being left). It
// resolves to the decoded body (null for an empty one) and the response.
export async function request(method, path, body, { signal, token, headers } = {}) {
  const h = { Accept: 'application/json' };
  const tok = token === undefined ? session()?.token : token;
  if (tok) h['X-Auth-Token'] = tok;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  Object.assign(h, headers || {});
  const resp = await fetch(path, {
    method, headers: h, signal, cache: 'no-store', credentials: 'omit', redirect: 'error',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (!resp.ok) {
    if (resp.status === 401 && tok && token === undefined) {
      save(null);
      onExpired();
    }
    throw new APIError(resp.status, message(resp.status, text));
  }
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  return { data, resp };
}

export async function call(method, path, body, opts) {
  return (await request(method, path, body, opts)).data;
}

export const get = (path, opts) => call('GET', path, undefined, opts);

// list reads every page of a collection (Octavia's <key>_links, Neutron's
// and Keystone's links, Barbican's next), at most 20 pages.
export async function list(path, key, opts) {
  const out = [];
  let next = path;
  for (let page = 0; next && page < 20; page++) {
    const data = await get(next, opts);
    const items = data[key] || [];
    out.push(...items);
    next = null;
    const links = data[key + '_links'] || data[key.replace(/s$/, '') + '_links'] || [];
    const link = Array.isArray(links) ? links.find((l) => l.rel === 'next') : null;
    let href = link ? link.href : (typeof data.next === 'string' ? data.next : null);
    if (href && items.length) {
      // Follow on this origin whatever host the API put in the link.
      const u = new URL(href, location.href);
      next = u.pathname + u.search;
    }
  }
  return out;
}

function toSession(data, token) {
  const t = data.token;
  return {
    token,
    expires: t.expires_at,
    user: { id: t.user.id, name: t.user.name, domain: t.user.domain && t.user.domain.name },
    project: t.project ? { id: t.project.id, name: t.project.name } : null,
    roles: (t.roles || []).map((r) => r.name),
  };
}

async function issue(auth, token) {
  const { data, resp } = await request('POST', '/identity/v3/auth/tokens?nocatalog', { auth }, { token: token || null });
  const tok = resp.headers.get('X-Subject-Token');
  if (!tok) throw new APIError(resp.status, 'the identity service issued no token');
  return toSession(data, tok);
}

// login authenticates with a password and ends with a project-scoped token:
// the project named, else the user's default project, else the first
// project the user has a role on.
export async function login(user, password, domain, project) {
  const auth = { identity: { methods: ['password'], password: { user: { name: user, password, domain: { name: domain } } } } };
  if (project) auth.scope = { project: { name: project, domain: { name: domain } } };
  let s = await issue(auth);
  if (!s.project) {
    const unscoped = s.token;
    const projects = (await get('/identity/v3/auth/projects', { token: unscoped })).projects || [];
    if (!projects.length) throw new APIError(403, 'You have no role on any project.');
    s = await issue({ identity: { methods: ['token'], token: { id: unscoped } }, scope: { project: { id: projects[0].id } } }, unscoped);
  }
  save(s);
  return s;
}

// switchProject rescopes the current token to another project.
export async function switchProject(projectID) {
  const s = session();
  const next = await issue({ identity: { methods: ['token'], token: { id: s.token } }, scope: { project: { id: projectID } } }, s.token);
  save(next);
  return next;
}

// logout revokes the token and forgets it, even when the revocation fails.
export async function logout() {
  const s = session();
  save(null);
  if (!s) return;
  await request('DELETE', '/identity/v3/auth/tokens', undefined, { token: s.token, headers: { 'X-Subject-Token': s.token } });
}

// Roles, as Octavia's default policy reads them (legacy roles included).
export function can(what) {
  const roles = (session() && session().roles) || [];
  const has = (...rs) => rs.some((r) => roles.includes(r));
  switch (what) {
    case 'write': return has('admin', 'member', 'load-balancer_member', 'load-balancer_admin');
    case 'admin': return has('admin', 'load-balancer_admin');
    case 'quota': return has('admin', 'load-balancer_admin', 'load-balancer_quota_admin');
    default: return false;
  }
}
