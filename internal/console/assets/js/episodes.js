// Episodes: a filtered list, and one episode with its steps as a timeline.

import { api } from './api.js';
import { el, replace, fmtTime, fmtNum, fmtMS, errorBox } from './dom.js';

const TASK_TYPES = ['code_generation', 'debugging', 'refactoring', 'testing', 'analysis', 'documentation', 'other'];
const OUTCOMES = ['success', 'partial_success', 'failure', 'abstained'];
const PAGE = 50;

// outcomeOf is an episode's outcome for display and filtering: its type,
// or "open" while it has none.
function outcomeOf(ep) {
  return ep.outcome ? ep.outcome.type : 'open';
}

function allTags(ep) {
  const tags = new Set([...(ep.tags || []), ...((ep.context && ep.context.tags) || [])]);
  return [...tags];
}

function episodeRow(ep) {
  const o = outcomeOf(ep);
  return el('tr', { 'data-id': ep.episode_id, class: 'episode-row' },
    el('td', { class: 'time' }, fmtTime(ep.start_time)),
    el('td', { 'data-col': 'task_type' }, ep.task_type),
    el('td', { 'data-col': 'description' }, el('a', { href: '#/episode/' + encodeURIComponent(ep.episode_id) }, ep.task_description)),
    el('td', { 'data-col': 'domain' }, ep.context ? ep.context.domain : ''),
    el('td', { 'data-col': 'tags' }, allTags(ep).map((t) => el('span', { class: 'tag' }, t))),
    el('td', { 'data-col': 'outcome' }, el('span', { class: 'badge ' + o }, o)),
    el('td', { 'data-col': 'reward', class: 'num' }, ep.reward ? fmtNum(ep.reward.total) : ''),
    el('td', { 'data-col': 'steps', class: 'num' }, (ep.steps || []).length));
}

function select(id, name, options, current, anyLabel) {
  return el('select', { id, name },
    el('option', { value: '' }, anyLabel),
    options.map((o) => el('option', { value: o, selected: o === current }, o)));
}

// renderList shows the episodes matching the filters in params (from the
// location's hash: task_type, outcome, tag, domain).
export async function renderList(view, params, go) {
  const f = {
    task_type: params.get('task_type') || '',
    outcome: params.get('outcome') || '',
    tag: params.get('tag') || '',
    domain: params.get('domain') || '',
  };
  const form = el('form', { id: 'episode-filters', class: 'filters', autocomplete: 'off' },
    el('label', { for: 'f-task-type' }, 'task type'), select('f-task-type', 'task_type', TASK_TYPES, f.task_type, 'any'),
    el('label', { for: 'f-outcome' }, 'outcome'), select('f-outcome', 'outcome', ['open', ...OUTCOMES], f.outcome, 'any'),
    el('label', { for: 'f-tag' }, 'tag'), el('input', { id: 'f-tag', name: 'tag', value: f.tag, size: 12 }),
    el('label', { for: 'f-domain' }, 'domain'), el('input', { id: 'f-domain', name: 'domain', value: f.domain, size: 12 }),
    el('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) q.set(k, String(v));
    go('#/episodes' + (q.toString() ? '?' + q : ''));
  });
  const body = el('tbody');
  const status = el('p', { id: 'episode-count', class: 'muted' }, 'loading…');
  const more = el('button', { type: 'button', id: 'episode-more', hidden: true }, 'More');
  replace(view, el('h2', null, 'Episodes'), form,
    el('table', { id: 'episode-table' },
      el('thead', null, el('tr', null, ['started', 'task type', 'description', 'domain', 'tags', 'outcome', 'reward', 'steps'].map((h) => el('th', { scope: 'col' }, h)))),
      body),
    status, more);

  // The API filters by task type, tag, domain and complete; the outcome's
  // type is filtered here, on each page.
  const query = { task_type: f.task_type, tag: f.tag, domain: f.domain, limit: PAGE };
  if (f.outcome === 'open') query.complete = 'false';
  else if (f.outcome) query.complete = 'true';
  let shown = 0;
  const load = async (cursor) => {
    more.hidden = true;
    let page;
    try {
      page = await api('GET', '/v1/episodes', { query: { ...query, cursor } });
    } catch (err) {
      status.replaceWith(errorBox(err, 'episode-error'));
      return;
    }
    for (const ep of page.episodes) {
      if (f.outcome && f.outcome !== 'open' && outcomeOf(ep) !== f.outcome) continue;
      body.appendChild(episodeRow(ep));
      shown++;
    }
    replace(status, shown + (shown === 1 ? ' episode' : ' episodes') + (page.stale ? ' (stale: the durable tier is unreachable)' : ''));
    status.classList.toggle('warn', Boolean(page.stale));
    if (page.next_cursor) {
      more.hidden = false;
      more.onclick = () => load(page.next_cursor);
    }
  };
  await load('');
}

// renderEpisode shows one episode: its fields, outcome, reward, reflection
// and its steps on a timeline from start_time to end_time.
export async function renderEpisode(view, id) {
  replace(view, el('p', { class: 'muted' }, 'loading…'));
  let ep;
  try {
    ep = await api('GET', '/v1/episodes/' + encodeURIComponent(id));
  } catch (err) {
    replace(view, el('h2', null, 'Episode'), errorBox(err, 'episode-error'));
    return;
  }
  const o = outcomeOf(ep);
  const ctx = ep.context || {};
  const fields = [
    ['id', ep.episode_id], ['task type', ep.task_type], ['domain', ctx.domain], ['language', ctx.language],
    ['framework', ctx.framework], ['complexity', ctx.complexity], ['started', fmtTime(ep.start_time)],
    ['ended', fmtTime(ep.end_time)], ['tags', allTags(ep).join(', ')],
  ];
  if (ep.metadata) for (const [k, v] of Object.entries(ep.metadata)) fields.push(['meta ' + k, v]);
  const dl = el('dl', { class: 'fields', id: 'episode-fields' },
    fields.filter(([, v]) => v).map(([k, v]) => [el('dt', null, k), el('dd', { 'data-field': k }, v)]));
  replace(view,
    el('p', null, el('a', { href: '#/episodes' }, '← episodes')),
    el('h2', { id: 'episode-title' }, ep.task_description),
    el('p', null, el('span', { class: 'badge ' + o, id: 'episode-outcome' }, o), ep.reward ? ' reward ' + fmtNum(ep.reward.total) : ''),
    dl,
    outcomeSection(ep.outcome),
    el('h3', null, 'Steps'),
    timeline(ep),
    reflectionSection(ep.reflection));
}

function outcomeSection(out) {
  if (!out) return null;
  const rows = [['verdict', out.verdict], ['reason', out.reason], ['error details', out.error_details],
    ['stopped at step', out.stopped_at_step], ['artifacts', (out.artifacts || []).join(', ')],
    ['completed', (out.completed || []).join(', ')], ['failed', (out.failed || []).join(', ')]];
  return el('section', { id: 'episode-outcome-detail' }, el('h3', null, 'Outcome'),
    el('dl', { class: 'fields' }, rows.filter(([, v]) => v).map(([k, v]) => [el('dt', null, k), el('dd', { 'data-field': k }, v)])));
}

function reflectionSection(r) {
  if (!r) return null;
  const list = (title, xs) => (xs && xs.length ? [el('h4', null, title), el('ul', null, xs.map((x) => el('li', null, x)))] : null);
  return el('section', { id: 'episode-reflection' }, el('h3', null, 'Reflection'),
    list('successes', r.successes), list('improvements', r.improvements), list('insights', r.insights));
}

// timeline lays the steps out on the episode's time axis: each bar starts
// at the step's offset from the start and is as long as its latency
// (at least a sliver). Positions are set through the CSSOM, which the
// Content-Security-Policy allows (no style attributes in markup).
function timeline(ep) {
  const steps = ep.steps || [];
  if (!steps.length) return el('p', { id: 'step-timeline', class: 'muted' }, 'no steps');
  const t0 = Date.parse(ep.start_time);
  let t1 = ep.end_time ? Date.parse(ep.end_time) : t0;
  for (const s of steps) t1 = Math.max(t1, Date.parse(s.timestamp) + (s.latency_ms || 0));
  const span = Math.max(1, t1 - t0);
  return el('ol', { id: 'step-timeline', class: 'timeline' }, steps.map((s) => {
    const at = Math.max(0, Date.parse(s.timestamp) - t0);
    const bar = el('div', { class: 'bar ' + (s.result ? s.result.type : 'none') });
    bar.style.marginLeft = ((at / span) * 100).toFixed(2) + '%';
    bar.style.width = Math.max(0.5, ((s.latency_ms || 0) / span) * 100).toFixed(2) + '%';
    const res = s.result || {};
    return el('li', { class: 'step', 'data-step': s.step_number },
      el('div', { class: 'step-head' },
        el('span', { class: 'step-no' }, '#' + s.step_number),
        el('span', { class: 'tool', 'data-col': 'tool' }, s.tool),
        el('span', { class: 'action', 'data-col': 'action' }, s.action),
        el('span', { class: 'badge ' + (res.type || 'none') }, res.type || 'no result'),
        el('span', { class: 'muted' }, '+' + fmtMS(at) + ' · ' + fmtMS(s.latency_ms || 0) + (s.tokens_used ? ' · ' + s.tokens_used + ' tokens' : ''))),
      el('div', { class: 'track' }, bar),
      res.message ? el('pre', { class: 'result error', 'data-col': 'message' }, res.message) : null,
      res.output ? el('pre', { class: 'result', 'data-col': 'output' }, res.output) : null);
  }));
}
