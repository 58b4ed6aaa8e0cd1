// DOM helpers. Every value reaches the page as a text node or a property:
// nothing here (or anywhere in the console) parses a string as markup.

// el builds an element. props: "class", "id", "for", "type", "name",
// "value", "placeholder", "href" (only "#..." links), "title", "hidden",
// "data-*" and "aria-*" set as attributes; "on<event>" functions become
// listeners. Children are nodes, or anything else, which becomes text;
// null and undefined are skipped; arrays are flattened.
export function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      node.addEventListener(k.slice(2), v);
    } else if (k === 'href') {
      const s = String(v);
      // Only in-page links: a record's text can never become a javascript: URL.
      node.setAttribute('href', s.startsWith('#') ? s : '#');
    } else if (k === 'value') {
      node.value = String(v);
    } else if (k === 'selected' || k === 'checked' || k === 'disabled') {
      node[k] = Boolean(v);
    } else if (ATTRS.has(k) || k.startsWith('data-') || k.startsWith('aria-')) {
      node.setAttribute(k, v === true ? '' : String(v));
    } else {
      throw new Error('el: unsupported property ' + k);
    }
  }
  append(node, children);
  return node;
}

const ATTRS = new Set(['class', 'id', 'for', 'type', 'name', 'placeholder', 'title', 'hidden',
  'role', 'size', 'min', 'max', 'step', 'colspan', 'scope', 'autocomplete', 'spellcheck']);

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined) continue;
    if (Array.isArray(c)) append(node, c);
    else if (c instanceof Node) node.appendChild(c);
    else node.appendChild(document.createTextNode(String(c)));
  }
}

// clear empties a node and fills it with children.
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// table builds a table from column headers and rows of cells.
export function table(id, headers, rows, props = {}) {
  return el('table', { id, ...props },
    el('thead', null, el('tr', null, headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', null, rows));
}

// Formatting. Numbers are written plainly (no locale separators) so they
// read the same everywhere.

export function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) return String(s);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/:00Z$/, 'Z');
}

export function fmtPct(x) {
  if (x === null || x === undefined || Number.isNaN(Number(x))) return '';
  return (Number(x) * 100).toFixed(1) + '%';
}

export function fmtNum(x, digits = 2) {
  if (x === null || x === undefined) return '';
  const n = Number(x);
  if (Number.isNaN(n)) return String(x);
  return Number.isInteger(n) ? String(n) : n.toFixed(digits);
}

export function fmtBytes(n) {
  n = Number(n);
  if (!Number.isFinite(n)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? n + ' B' : v.toFixed(1) + ' ' + units[i];
}

export function fmtMS(ms) {
  if (ms === null || ms === undefined) return '';
  ms = Number(ms);
  if (ms < 1000) return ms + ' ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
  return (ms / 60000).toFixed(1) + ' min';
}

// message is an error's text for people: the API's code and message.
export function message(err) {
  if (err && err.code) return err.code + ': ' + (err.field ? err.field + ' ' : '') + err.message;
  return String(err && err.message ? err.message : err);
}

// errorBox is a view's error line.
export function errorBox(err, id) {
  return el('p', { class: 'error', role: 'alert', id }, message(err));
}
