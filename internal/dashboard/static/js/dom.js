// DOM building. Everything the dashboard shows is made here with
// createElement and text nodes: no HTML string is ever parsed, so a value
// from the API (a load balancer named "<img src=x onerror=...>") can only
// ever be text. Links may only point inside the dashboard (#/...).

const SVG = 'http://www.w3.org/2000/svg';

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'href') {
      const s = String(v);
      if (!s.startsWith('#')) throw new Error('dashboard links stay inside the dashboard: ' + s);
      el.setAttribute('href', s);
    } else if (k.startsWith('on')) {
      throw new Error('event handlers go in "on", not in attributes: ' + k);
    } else if (k === 'value' && 'value' in el) {
      el.value = String(v);
    } else if (k === 'checked' || k === 'selected' || k === 'disabled') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

// h makes an HTML element: h('a', {href: '#/x', class: 'c'}, 'text', child).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  return append(el, children);
}

// s makes an SVG element.
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  return append(el, children);
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// badge shows a status in its colour.
export function badge(status) {
  const v = status || 'UNKNOWN';
  return h('span', { class: 'badge ' + v, 'data-status': v }, v);
}

// alertBox shows an error message verbatim.
export function alertBox(message) {
  return h('div', { class: 'alert', role: 'alert' }, message);
}

// shortID is the first block of a UUID, for tables.
export function shortID(id) {
  return h('code', { class: 'id', title: id }, String(id || '').split('-')[0]);
}

// display renders any JSON value as text.
export function display(v) {
  if (v === null || v === undefined) return h('span', { class: 'muted' }, '—');
  if (typeof v === 'object') return h('code', null, JSON.stringify(v));
  return String(v);
}
