// listing-form.js — the listing form, used to create a listing (home page) and to edit one
// (price page). It builds a labelled field for every writable field of the contract,
// checks the contract's rules in the browser before sending (the server checks them again:
// whatever it still refuses, its 422 message is shown next to the form, and the fields it
// names are marked), and turns the form into the JSON body of a POST or PUT. Lengths are
// counted in Unicode characters, as the server counts them (so no maxlength attributes,
// which count UTF-16 units).

import { h } from './dom.js';
import { ApiError } from './api.js';
import {
  BUILDING_TYPES, countryList, countryName, parseAmount, parseCountry, parsePhone,
} from './format.js';

const MAX_TEXT = 200;
const MAX_DESCRIPTION = 10000;
const MAX_PRICE = 1e12;
const MAX_SURFACE = 1e6;
const MAX_ROOMS = 10000;

// The contract's field rules, as the server words them. Each returns a problem or ''.
function checkText(value, max, multiline) {
  if (!value.trim()) return 'must not be blank';
  if ([...value].length > max) return `must be at most ${max} characters`;
  const control = multiline ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/ : /[\u0000-\u001f\u007f-\u009f]/;
  if (control.test(value)) return 'must not contain control characters';
  return '';
}

// "450 000 €", "249 500,50" or "710000.5" → a number; NaN when it is not one.
const parseDecimal = parseAmount;

// A country as shown in the field once read: "France (FR)".
function countryLabel(code) {
  return `${countryName(code)} (${code})`;
}

// "France", "fr", "France (FR)" → "FR"; null when it names no country.
function readCountry(text) {
  const labelled = /\(([A-Za-z]{2})\)\s*$/.exec(text);
  return parseCountry(labelled ? labelled[1] : text);
}

function parseInteger(text) {
  const s = text.trim();
  return /^\d+$/.test(s) ? Number(s) : NaN;
}

// Every field: where it goes in the body (`path`), how it is shown and how it is checked.
// `check(value, values)` returns '' or what is wrong; `value(text)` the JSON value.
const FIELDS = [
  { path: 'name', label: 'Title', group: 'property', attrs: { autocomplete: 'off' },
    check: (v) => checkText(v, MAX_TEXT, false) },
  { path: 'building_type', label: 'Building type', group: 'property', kind: 'select',
    check: (v) => (!v ? 'is required: choose one'
      : BUILDING_TYPES.some(([t]) => t === v) ? '' : 'must be one of Studio, Apartment, House') },
  { path: 'latest_price_eur', label: 'Price in euros', group: 'property', hint: 'e.g. 450 000 € or 249 500,50',
    attrs: { inputmode: 'decimal', autocomplete: 'off' }, value: parseDecimal,
    shown: (v) => { const n = parseDecimal(v); return Number.isNaN(n) ? v : String(n); },
    check: (v) => {
      const n = parseDecimal(v);
      if (!v.trim()) return 'is required';
      if (Number.isNaN(n)) return 'must be a number of euros, e.g. 450 000 or 249 500,50';
      if (n > MAX_PRICE) return 'must be at most 1 000 000 000 000';
      if (Math.round(n * 100) / 100 !== n) return 'must have at most 2 decimals';
      return '';
    } },
  { path: 'surface_area_m2', label: 'Surface in m²', group: 'property', attrs: { inputmode: 'decimal', autocomplete: 'off' },
    value: parseDecimal, shown: (v) => { const n = parseDecimal(v); return Number.isNaN(n) ? v : String(n); },
    check: (v) => {
      const n = parseDecimal(v);
      if (!v.trim()) return 'is required';
      if (Number.isNaN(n)) return 'must be a number';
      return n > MAX_SURFACE ? 'must be at most 1000000' : '';
    } },
  { path: 'rooms_count', label: 'Rooms', group: 'property', attrs: { inputmode: 'numeric', autocomplete: 'off' },
    value: parseInteger,
    check: (v) => {
      const n = parseInteger(v);
      return n >= 1 && n <= MAX_ROOMS ? '' : `must be an integer from 1 to ${MAX_ROOMS}`;
    } },
  { path: 'bedrooms_count', label: 'Bedrooms', group: 'property', attrs: { inputmode: 'numeric', autocomplete: 'off' },
    value: parseInteger,
    check: (v, all) => {
      const n = parseInteger(v);
      if (!(n >= 0 && n <= MAX_ROOMS)) return `must be an integer from 0 to ${MAX_ROOMS}`;
      const rooms = parseInteger(all.rooms_count);
      return rooms >= 1 && n > rooms ? 'must not be more than rooms_count' : '';
    } },
  { path: 'description', label: 'Description', group: 'property', kind: 'textarea',
    attrs: { rows: 4 }, check: (v) => checkText(v, MAX_DESCRIPTION, true) },
  { path: 'postal_address.street_address', label: 'Street address', group: 'address',
    attrs: { autocomplete: 'street-address' }, check: (v) => checkText(v, MAX_TEXT, false) },
  { path: 'postal_address.postal_code', label: 'Postal code', group: 'address',
    attrs: { autocomplete: 'postal-code' }, check: (v) => checkText(v, MAX_TEXT, false) },
  { path: 'postal_address.city', label: 'City', group: 'address',
    attrs: { autocomplete: 'address-level2' }, check: (v) => checkText(v, MAX_TEXT, false) },
  { path: 'postal_address.country', label: 'Country', group: 'address', kind: 'country',
    hint: 'a name or a code: France, FR, Belgique…',
    attrs: { autocomplete: 'off', spellcheck: 'false' },
    value: readCountry, shown: (v) => { const c = readCountry(v); return c ? countryLabel(c) : v; },
    check: (v) => (!v.trim() ? 'is required'
      : readCountry(v) ? '' : 'must be a country, e.g. France or FR') },
  { path: 'contact_phone_number', label: 'Contact phone (optional)', group: 'contact', kind: 'tel',
    hint: 'e.g. 06 12 34 56 78 (with the country above) or +33 6 12 34 56 78', attrs: { autocomplete: 'tel' },
    value: (v, all) => (v.trim() ? parsePhone(v, readCountry(all.country || '')) : null),
    shown: (v, all) => (v.trim() ? parsePhone(v, readCountry(all.country || '')) || v : ''),
    check: (v, all) => (!v.trim() || parsePhone(v, readCountry(all.country || '')) ? ''
      : 'must be a phone number: +, the country code and the number (e.g. +33612345678), or a national number of the country above') },
];

const GROUPS = [['property', 'The property'], ['address', 'Address'], ['contact', 'Contact']];

function getPath(obj, path) {
  return path.split('.').reduce((o, key) => (o == null ? o : o[key]), obj);
}

function setPath(obj, path, value) {
  const keys = path.split('.');
  const last = keys.pop();
  let o = obj;
  for (const key of keys) o = o[key] ??= {};
  o[last] = value;
}

// Fills `form` (an empty <form>) with the fields and wires it up.
// `prefix` makes the element ids unique on the page; `save(body)` sends the body and
// resolves to a message to announce (or rejects with an ApiError, shown next to the form).
// Returns {fill(listing), focus()}.
export function setupListingForm(form, { prefix, submitLabel, busyLabel, save }) {
  const inputs = new Map();  // path → {field, input, error}
  const alert = h('div', { class: 'form-error', id: `${prefix}-error`, role: 'alert', tabindex: -1, hidden: true });
  const done = h('p', { class: 'form-done', role: 'status' });
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);

  form.noValidate = true;  // the checks below speak the contract's words, not the browser's
  form.append(alert);
  for (const [group, legend] of GROUPS) {
    const fieldset = h('fieldset', {}, h('legend', { text: legend }));
    for (const field of FIELDS.filter((f) => f.group === group)) {
      const id = `${prefix}-${field.path.replace('.', '-')}`;
      const error = h('p', { class: 'field-error', id: `${id}-error`, hidden: true });
      const hint = field.hint ? h('p', { class: 'hint', id: `${id}-hint`, text: field.hint }) : null;
      const described = [hint && hint.id, error.id].filter(Boolean).join(' ');
      let input;
      if (field.kind === 'select') {
        // No type is chosen for the user: an empty first choice, which the check refuses.
        input = h('select', { id, name: field.path, 'aria-describedby': described },
          h('option', { value: '', text: 'Choose…' }),
          BUILDING_TYPES.map(([value, label]) => h('option', { value, text: label })));
      } else if (field.kind === 'country') {
        const list = h('datalist', { id: `${id}-list` },
          countryList().map(([code]) => h('option', { value: countryLabel(code) })));
        input = h('input', { id, name: field.path, type: 'text', list: list.id,
          'aria-describedby': described, ...field.attrs });
        fieldset.append(list);
      } else if (field.kind === 'textarea') {
        input = h('textarea', { id, name: field.path, 'aria-describedby': described, ...field.attrs });
      } else {
        input = h('input', { id, name: field.path, type: field.kind === 'tel' ? 'tel' : 'text',
          'aria-describedby': described, ...field.attrs });
      }
      const optional = field.path === 'contact_phone_number';
      if (!optional) input.required = true;
      input.addEventListener('input', () => setError(field.path, ''));
      // What was typed is shown back as it will be sent, once the field is left.
      if (field.shown) input.addEventListener('change', () => { input.value = field.shown(input.value, texts()); });
      inputs.set(field.path, { field, input, error });
      fieldset.append(h('div', { class: `field field-${field.path.split('.').pop()}` },
        h('label', { for: id, text: field.label }), hint, input, error));
    }
    form.append(fieldset);
  }
  form.append(h('div', { class: 'form-actions' }, submit), done);

  function setError(path, message) {
    const entry = inputs.get(path);
    if (!entry) return;
    entry.error.textContent = message ? `${entry.field.label}: ${message}` : '';
    entry.error.hidden = !message;
    if (message) entry.input.setAttribute('aria-invalid', 'true');
    else entry.input.removeAttribute('aria-invalid');
  }

  function clearErrors() {
    for (const path of inputs.keys()) setError(path, '');
    alert.hidden = true;
    alert.replaceChildren();
    done.replaceChildren();
  }

  // Every field's text, by the last part of its path (country, rooms_count, ...).
  function texts() {
    const out = {};
    for (const [path, { input }] of inputs) out[path.split('.').pop()] = input.value;
    return out;
  }

  // The body of the request and the problems found: [{path, message}]. Fields that read
  // well are shown back normalised, as they are sent.
  function read() {
    const all = texts();
    const body = {};
    const problems = [];
    for (const [path, { field, input }] of inputs) {
      const problem = field.check(input.value, all);
      if (problem) {
        problems.push({ path, message: problem });
        continue;
      }
      setPath(body, path, field.value ? field.value(input.value, all) : input.value);
      if (field.shown) input.value = field.shown(input.value, all);
    }
    return { body, problems };
  }

  // The short summary above the form: one link per field in error, by its label.
  function showSummary(title, problems, extra = '') {
    const items = problems.map(({ path, message }) => {
      const { field, input } = inputs.get(path);
      return h('li', {}, h('a', { href: `#${input.id}`, onclick: (event) => {
        event.preventDefault();
        input.focus();
      } }, field.label), `: ${message}`);
    });
    alert.replaceChildren(...[h('strong', { text: title }), extra ? ' ' : null,
      extra ? h('span', { class: 'form-error-message', text: extra }) : null,
      items.length ? h('ul', { class: 'error-summary' }, items) : null].filter(Boolean));
    alert.hidden = false;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors();
    const { body, problems } = read();
    if (problems.length) {
      for (const { path, message } of problems) setError(path, message);
      showSummary(problems.length === 1 ? 'One field needs a correction:'
        : `${problems.length} fields need a correction:`, problems);
      alert.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = busyLabel;
    form.setAttribute('aria-busy', 'true');
    try {
      const said = await save(body);  // a text, or nodes and texts (e.g. with a link)
      done.replaceChildren(...[said].flat());
    } catch (err) {
      // The server's own message, e.g. "postal_address.country: must be ...; rooms_count: ...".
      const message = err instanceof ApiError ? err.message : String(err);
      const title = err instanceof ApiError && err.status === 422
        ? 'The server refused this listing:' : 'The listing could not be saved:';
      const named = [];
      for (const part of message.split('; ')) {
        const colon = part.indexOf(': ');
        if (colon > 0 && inputs.has(part.slice(0, colon))) named.push({ path: part.slice(0, colon), message: part.slice(colon + 2) });
      }
      for (const { path, message: m } of named) setError(path, m);
      showSummary(title, named, named.length ? '' : message);
      alert.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = submitLabel;
      form.removeAttribute('aria-busy');
    }
  });

  return {
    // Puts a listing's values in the fields (for editing).
    fill(listing) {
      for (const [path, { input }] of inputs) {
        const value = getPath(listing, path);
        input.value = value === null || value === undefined ? '' : String(value);
        if (path === 'postal_address.country' && value) input.value = countryLabel(value);
      }
    },
  };
}
