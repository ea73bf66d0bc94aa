// A form per job kind, generated from its parameters' JSON Schema (GET /api/v1/kinds):
// defaults, ranges, choices and help text come from the server, never from this file.

import { h } from './dom.js';

// Parameters the page fills itself (or that need another screen) are not shown.
const HIDDEN = new Set(['repo_id', 'commit_id']);
// Shown first; the rest of a kind's parameters sit under "More options".
const PRIMARY = new Set([
  'prompt', 'duration_seconds', 'bpm', 'key', 'mood', 'seed', 'variations', 'model', 'stems', 'two_stems',
  'target_lufs', 'genre',
]);

function resolve(schema, root) {
  let node = schema;
  if (node && node.$ref) node = root.$defs?.[node.$ref.split('/').pop()] ?? {};
  if (node && node.allOf && node.allOf.length === 1) node = { ...resolve(node.allOf[0], root), ...node, allOf: undefined };
  return node || {};
}

/** {type, nullable, enum, ...} of a property, unwrapping anyOf [X, null]. */
export function describe(property, root) {
  let node = resolve(property, root);
  let nullable = false;
  if (Array.isArray(node.anyOf)) {
    const others = node.anyOf.filter((option) => option.type !== 'null');
    nullable = others.length < node.anyOf.length;
    if (others.length === 1) node = { ...resolve(others[0], root), ...withoutAnyOf(node) };
  }
  const values = node.enum ?? (node.const !== undefined ? [node.const] : undefined);
  return { ...node, nullable, values };
}

function withoutAnyOf(node) {
  const { anyOf, ...rest } = node;
  return rest;
}

const ACRONYMS = { bpm: 'BPM', lufs: 'LUFS', dbtp: 'dBTP', db: 'dB', mp3: 'MP3', midi: 'MIDI' };

function labelFor(name) {
  const words = name.split('_').map((word) => ACRONYMS[word] || word);
  const text = words.join(' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function control(name, node, required) {
  const common = { name, id: `param-${name}`, 'aria-describedby': `help-${name}` };
  if (node.values) {
    const select = h('select', common);
    if (node.nullable || node.default === undefined) select.append(h('option', { value: '', text: '(default)' }));
    for (const value of node.values) select.append(h('option', { value: String(value), text: String(value) }));
    if (node.default !== undefined && node.default !== null) select.value = String(node.default);
    return select;
  }
  if (node.type === 'boolean') {
    const box = h('input', { ...common, type: 'checkbox' });
    box.checked = Boolean(node.default);
    return box;
  }
  if (node.type === 'integer' || node.type === 'number') {
    const input = h('input', { ...common, type: 'number', inputmode: node.type === 'integer' ? 'numeric' : 'decimal' });
    const low = node.minimum ?? node.exclusiveMinimum;
    const high = node.maximum ?? node.exclusiveMaximum;
    if (low !== undefined) input.min = String(low);
    if (high !== undefined) input.max = String(high);
    input.step = node.type === 'integer' ? '1' : 'any';
    if (node.default !== undefined && node.default !== null) input.value = String(node.default);
    if (required) input.required = true;
    return input;
  }
  if (node.type === 'array') {
    const input = h('input', { ...common, type: 'text', placeholder: 'comma-separated' });
    if (Array.isArray(node.default)) input.value = node.default.join(', ');
    return input;
  }
  const long = (node.maxLength ?? 0) > 200;
  const input = h(long ? 'textarea' : 'input', { ...common, rows: long ? 3 : undefined });
  if (node.maxLength) input.maxLength = node.maxLength;
  if (node.default !== undefined && node.default !== null) input.value = String(node.default);
  if (required) input.required = true;
  return input;
}

function rangeText(node) {
  const parts = [];
  const low = node.minimum ?? node.exclusiveMinimum;
  const high = node.maximum ?? node.exclusiveMaximum;
  const said = node.description || '';
  if (low !== undefined && high !== undefined && !(said.includes(String(low)) && said.includes(String(high)))) {
    parts.push(`${low}–${high}`);
  }
  if (node.default !== undefined && node.default !== null && typeof node.default !== 'object') {
    parts.push(`default ${node.default}`);
  }
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Build the form's fields for a kind; returns {element, read(), showErrors(message)}. */
export function paramsForm(schema) {
  const properties = schema.properties || {};
  const required = new Set(schema.required || []);
  const fields = new Map();
  const primary = h('div', { class: 'fields' });
  const more = h('div', { class: 'fields' });
  const names = Object.keys(properties).filter((name) => !HIDDEN.has(name));
  for (const name of names) {
    const node = describe(properties[name], schema);
    if (node.type === 'object' || (!node.type && !node.values)) continue; // nested settings: API only
    const input = control(name, node, required.has(name));
    const error = h('span', { class: 'error', role: 'alert', dataset: { errorFor: `param-${name}` } });
    const help = h('small', { id: `help-${name}`, class: 'muted', text: (node.description || '') + rangeText(node) });
    const label = node.type === 'boolean'
      ? h('label', { class: 'check' }, input, ' ', labelFor(name))
      : h('label', { for: input.id }, labelFor(name), required.has(name) ? ' *' : '');
    const field = h('div', { class: 'field', dataset: { param: name } }, label, node.type === 'boolean' ? null : input, help, error);
    (PRIMARY.has(name) || required.has(name) || names.length <= 5 ? primary : more).append(field);
    fields.set(name, { input, node, error });
  }
  const element = h('div', { class: 'stack' }, primary);
  if (more.childElementCount) element.append(h('details', {}, h('summary', { text: 'More options' }), more));

  function read() {
    const params = {};
    for (const [name, { input, node }] of fields) {
      if (node.type === 'boolean') {
        if (input.checked !== Boolean(node.default)) params[name] = input.checked;
        continue;
      }
      const raw = input.value.trim();
      if (raw === '') continue;
      let value = raw;
      if (node.type === 'integer' || node.type === 'number') value = Number(raw);
      else if (node.type === 'array') value = raw.split(',').map((s) => s.trim()).filter(Boolean);
      else if (node.values && typeof node.values[0] === 'number') value = Number(raw);
      if (node.default !== undefined && JSON.stringify(value) === JSON.stringify(node.default)) continue;
      params[name] = value;
    }
    return params;
  }

  /** Put each "params.<name>: problem" of an API message next to its field; returns the rest. */
  function showErrors(message) {
    for (const { error } of fields.values()) error.textContent = '';
    if (!message) return '';
    const rest = [];
    for (const part of message.split('; ')) {
      const match = /^(?:params\.)?([a-z_0-9]+)(?:\.[^:]*)?: (.*)$/.exec(part);
      const field = match && fields.get(match[1]);
      if (field) field.error.textContent = match[2];
      else rest.push(part);
    }
    return rest.join('; ');
  }

  return { element, read, showErrors };
}
