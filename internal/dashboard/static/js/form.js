// Form fields shared by the wizard and the edit forms. Nothing is checked
// here: what the user typed goes to the API, and a refusal's message is
// shown verbatim under the field it names.

import { h, replace, alertBox } from './dom.js';

// fieldFor finds the field a message is about: Octavia's "Invalid input for
// field/attribute X", else the longest field name the message mentions.
export function fieldFor(message, names) {
  const m = /field\/attribute ([A-Za-z_]+)/.exec(message);
  if (m && names.includes(m[1])) return m[1];
  const byLength = [...names].sort((a, b) => b.length - a.length);
  return byLength.find((n) => new RegExp(`(^|[^A-Za-z0-9_])${n}([^A-Za-z0-9_]|$)`).test(message)) || null;
}

export function field(f) {
  const id = 'f-' + f.name;
  let input;
  if (f.options) {
    input = h('select', { id, name: f.name }, f.options.map(([v, label]) => h('option', { value: v, selected: v === f.value }, label)));
  } else if (f.checkbox) {
    input = h('input', { id, name: f.name, type: 'checkbox', checked: f.value !== false });
  } else {
    input = h('input', { id, name: f.name, type: 'text', value: f.value || '', placeholder: f.placeholder || null, autocomplete: 'off' });
  }
  return h('div', { class: 'field', 'data-field': f.name },
    h('label', { for: id }, f.label || f.name),
    input,
    f.help ? h('div', { class: 'help' }, f.help) : null,
    h('div', { class: 'field-error', 'data-error-for': f.name, role: 'alert' }));
}

// values reads a form: empty text is left out, so the API's default applies.
export function values(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.elements[f.name];
    if (f.checkbox) out[f.name] = el.checked;
    else if (el.value.trim() !== '') out[f.name] = el.value.trim();
  }
  return out;
}

export function showError(form, fields, stepError, e) {
  const name = fieldFor(e.message, fields.map((f) => f.name));
  const box = name && form.querySelector(`[data-error-for="${name}"]`);
  if (box) {
    box.textContent = e.message;
    box.parentElement.classList.add('invalid');
    form.elements[name].focus();
  } else {
    replace(stepError, alertBox(e.message));
  }
}

export function clearErrors(form, stepError) {
  for (const el of form.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of form.querySelectorAll('.field.invalid')) el.classList.remove('invalid');
  replace(stepError);
}

