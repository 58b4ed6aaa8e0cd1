// Search: recall (POST /v1/recall with text) when the server can, keyword
// search (GET /v1/search) when it cannot.

import { api } from './api.js';
import { el, replace, fmtNum, errorBox, message } from './dom.js';
import { patternSummary } from './knowledge.js';

function recordLink(type, id, text) {
  if (type === 'episode' && id) return el('a', { href: '#/episode/' + encodeURIComponent(id) }, text || id);
  return text || id || '';
}

function recallRow(h) {
  const r = h.record || {};
  let text = '';
  if (h.item_type === 'episode') text = r.task_description;
  else if (h.item_type === 'pattern') text = patternSummary(r);
  else if (h.item_type === 'heuristic') text = (r.condition || '') + ' → ' + (r.action || '');
  return el('li', { class: 'hit', 'data-kind': h.item_type },
    el('span', { class: 'badge' }, h.item_type), ' ',
    recordLink(h.item_type, h.item_id, text),
    el('span', { class: 'muted' }, ' score ' + fmtNum(h.score, 4)));
}

function searchRow(h) {
  const id = h.episode_id || h.pattern_id || '';
  const kind = h.kind + (h.step_number ? ' #' + h.step_number : '');
  return el('li', { class: 'hit', 'data-kind': h.kind },
    el('span', { class: 'badge' }, kind), ' ',
    recordLink(h.episode_id ? 'episode' : h.kind, id, h.snippet),
    el('span', { class: 'muted' }, ' score ' + fmtNum(h.score, 4)));
}

// RECALL_FALLBACK are the answers after which the keyword search is tried:
// no such endpoint, the store cannot recall, or cannot with text alone.
const RECALL_FALLBACK = new Set([400, 404, 405, 501]);

export async function renderSearch(view, params, go) {
  const q = params.get('q') || '';
  const input = el('input', { id: 'search-input', name: 'q', value: q, size: 40, placeholder: 'words to look for', type: 'search' });
  const form = el('form', { id: 'search-form', class: 'filters', autocomplete: 'off', role: 'search' },
    el('label', { for: 'search-input' }, 'search'), input, el('button', { type: 'submit' }, 'Search'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    go('#/search' + (input.value.trim() ? '?q=' + encodeURIComponent(input.value.trim()) : ''));
  });
  const mode = el('p', { id: 'search-mode', class: 'muted' });
  const list = el('ol', { id: 'search-results', class: 'hits' });
  replace(view, el('h2', null, 'Search'), form, mode, list);
  if (!q) return;
  try {
    const res = await api('POST', '/v1/recall', { body: { text: q, limit: 20 } });
    replace(mode, 'recall: ' + res.hits.length + ' hits' + (res.stale ? ' (stale)' : ''));
    mode.dataset.mode = 'recall';
    for (const h of res.hits) list.appendChild(recallRow(h));
    return;
  } catch (err) {
    if (!RECALL_FALLBACK.has(err.status)) {
      list.replaceWith(errorBox(err, 'search-error'));
      return;
    }
    mode.title = 'recall unavailable: ' + message(err);
  }
  try {
    const res = await api('GET', '/v1/search', { query: { q, limit: 20 } });
    replace(mode, 'keyword search: ' + res.hits.length + ' hits' + (res.stale ? ' (stale)' : ''));
    mode.dataset.mode = 'keyword';
    for (const h of res.hits) list.appendChild(searchRow(h));
  } catch (err) {
    list.replaceWith(errorBox(err, 'search-error'));
  }
}
