// Patterns and heuristics: what the agent learned, as lists.

import { api } from './api.js';
import { el, replace, table, fmtPct, fmtNum, fmtTime, errorBox } from './dom.js';

const KINDS = ['tool_sequence', 'decision_point', 'error_recovery', 'context_pattern'];

// summary is a pattern's gist, by kind.
export function patternSummary(p) {
  switch (p.kind) {
    case 'tool_sequence': return (p.tools || []).join(' → ');
    case 'decision_point': return 'if ' + (p.condition || '') + ' then ' + (p.action || '');
    case 'error_recovery': return (p.error_type || '') + ': ' + (p.recovery_steps || []).join(' → ');
    case 'context_pattern': return (p.context_features || []).join(', ') + ' ⇒ ' + (p.recommended_approach || '');
    default: return '';
  }
}

function effectiveness(p) {
  const e = p.effectiveness || {};
  return e.times_applied ? (e.success_when_applied || 0) / e.times_applied : null;
}

async function page(view, path, key, query, rowOf, headers, id) {
  const body = el('tbody');
  const status = el('p', { class: 'muted', id: id + '-count' }, 'loading…');
  const more = el('button', { type: 'button', hidden: true, id: id + '-more' }, 'More');
  const t = table(id, headers, []);
  t.replaceChild(body, t.tBodies[0]);
  view.append(t, status, more);
  let shown = 0;
  const load = async (cursor) => {
    more.hidden = true;
    let res;
    try {
      res = await api('GET', path, { query: { ...query, cursor, limit: 100 } });
    } catch (err) {
      status.replaceWith(errorBox(err, id + '-error'));
      return;
    }
    for (const r of res[key]) body.appendChild(rowOf(r));
    shown += res[key].length;
    replace(status, shown + ' ' + key + (res.stale ? ' (stale)' : ''));
    if (res.next_cursor) {
      more.hidden = false;
      more.onclick = () => load(res.next_cursor);
    }
  };
  await load('');
}

function filterForm(id, fields, go, base) {
  const form = el('form', { id, class: 'filters', autocomplete: 'off' }, fields, el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
    go(base + (q.toString() ? '?' + q : ''));
  });
  return form;
}

export async function renderPatterns(view, params, go) {
  const domain = params.get('domain') || '';
  const kind = params.get('kind') || '';
  replace(view, el('h2', null, 'Patterns'),
    filterForm('pattern-filters', [
      el('label', { for: 'p-kind' }, 'kind'),
      el('select', { id: 'p-kind', name: 'kind' }, el('option', { value: '' }, 'any'), KINDS.map((k) => el('option', { value: k, selected: k === kind }, k))),
      el('label', { for: 'p-domain' }, 'domain'), el('input', { id: 'p-domain', name: 'domain', value: domain, size: 12 }),
    ], go, '#/patterns'));
  await page(view, '/v1/patterns', 'patterns', { domain, kind }, (p) => el('tr', { 'data-id': p.pattern_id },
    el('td', null, p.kind),
    el('td', { 'data-col': 'summary' }, patternSummary(p)),
    el('td', null, p.domain),
    el('td', { class: 'num' }, fmtPct(p.success_rate)),
    el('td', { class: 'num' }, p.occurrence_count),
    el('td', { class: 'num' }, (p.effectiveness && p.effectiveness.times_applied) || 0),
    el('td', { class: 'num' }, fmtPct(effectiveness(p))),
    el('td', { class: 'time' }, fmtTime(p.updated_at))),
  ['kind', 'summary', 'domain', 'success rate', 'occurrences', 'applied', 'effectiveness', 'updated'], 'pattern-table');
}

export async function renderHeuristics(view, params, go) {
  const domain = params.get('domain') || '';
  const minConf = params.get('min_confidence') || '';
  replace(view, el('h2', null, 'Heuristics'),
    filterForm('heuristic-filters', [
      el('label', { for: 'h-domain' }, 'domain'), el('input', { id: 'h-domain', name: 'domain', value: domain, size: 12 }),
      el('label', { for: 'h-conf' }, 'min confidence'), el('input', { id: 'h-conf', name: 'min_confidence', value: minConf, size: 4 }),
    ], go, '#/heuristics'));
  await page(view, '/v1/heuristics', 'heuristics', { domain, min_confidence: minConf }, (h) => el('tr', { 'data-id': h.heuristic_id },
    el('td', { 'data-col': 'condition' }, h.condition),
    el('td', { 'data-col': 'action' }, h.action),
    el('td', { class: 'num', 'data-col': 'confidence' }, fmtNum(h.confidence)),
    el('td', null, h.domain),
    el('td', { class: 'num' }, h.evidence ? h.evidence.sample_size : ''),
    el('td', { class: 'time' }, fmtTime(h.updated_at))),
  ['condition', 'action', 'confidence', 'domain', 'sample size', 'updated'], 'heuristic-table');
}
