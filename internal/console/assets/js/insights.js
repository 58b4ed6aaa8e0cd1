// Insights (GET /v1/insights) as charts and tables: the timeline of
// episodes and success rate, success by task type, and per tool the error
// rate and latency. A server without insights (404, 501) gets a message.

import { api } from './api.js';
import { el, replace, table, fmtPct, fmtNum, fmtMS, fmtTime, errorBox, message } from './dom.js';
import { timeChart, barChart } from './charts.js';

// WINDOWS: the choices of window, each with its bucket.
const WINDOWS = {
  '24h': { ms: 24 * 3600e3, bucket: 'hour' },
  '7d': { ms: 7 * 86400e3, bucket: 'day' },
  '30d': { ms: 30 * 86400e3, bucket: 'day' },
  '90d': { ms: 90 * 86400e3, bucket: 'week' },
};

// floorTo is t truncated to the start of its bucket in UTC (weeks start on
// Monday), so the buckets are whole hours, days or weeks.
function floorTo(t, bucket) {
  const d = new Date(t);
  d.setUTCMinutes(0, 0, 0);
  if (bucket === 'hour') return d;
  d.setUTCHours(0);
  if (bucket === 'week') d.setUTCDate(d.getUTCDate() - ((d.getUTCDay() + 6) % 7));
  return d;
}

function groupRows(groups, keyOf) {
  return (groups || []).map((g) => el('tr', { 'data-key': keyOf(g) },
    el('td', { 'data-col': 'key' }, keyOf(g)),
    el('td', { class: 'num', 'data-col': 'episodes' }, g.episodes),
    el('td', { class: 'num', 'data-col': 'completed' }, g.completed),
    el('td', { class: 'num', 'data-col': 'success_rate' }, fmtPct(g.success_rate)),
    el('td', { class: 'num' }, fmtPct(g.failure_rate)),
    el('td', { class: 'num' }, g.mean_reward === null || g.mean_reward === undefined ? '' : fmtNum(g.mean_reward)),
    el('td', { class: 'num' }, fmtMS(g.duration_ms_p50)),
    el('td', { class: 'num' }, fmtMS(g.duration_ms_p95)),
    el('td', { class: 'num' }, g.steps_p50 + ' / ' + g.steps_p95)));
}

const groupHeaders = (what) => [what, 'episodes', 'completed', 'success', 'failure', 'mean reward', 'duration p50', 'duration p95', 'steps p50 / p95'];

export async function renderInsights(view, params, go) {
  const win = WINDOWS[params.get('window')] ? params.get('window') : '30d';
  const { ms, bucket } = WINDOWS[win];
  const sel = el('select', { id: 'insights-window', name: 'window' },
    Object.keys(WINDOWS).map((k) => el('option', { value: k, selected: k === win }, 'last ' + k + ' by ' + WINDOWS[k].bucket)));
  sel.addEventListener('change', () => go('#/insights?window=' + encodeURIComponent(sel.value)));
  const body = el('div', { id: 'insights-body' }, el('p', { class: 'muted' }, 'loading…'));
  replace(view, el('h2', null, 'Insights'), el('form', { class: 'filters', id: 'insights-form' }, el('label', { for: 'insights-window' }, 'window'), sel), body);

  const since = floorTo(Date.now() - ms, bucket);
  let ins;
  try {
    ins = await api('GET', '/v1/insights', { query: { since: since.toISOString(), bucket } });
  } catch (err) {
    if (err.status === 404 || err.status === 501) {
      replace(body, el('p', { id: 'insights-unavailable', class: 'warn' },
        'Insights unavailable: this server does not compute insights (' + err.status + ', ' + message(err) + ').'));
    } else {
      replace(body, errorBox(err, 'insights-error'));
    }
    return;
  }
  const t = ins.totals || {};
  const totals = el('dl', { class: 'fields', id: 'insights-totals' },
    [['window', fmtTime(ins.since) + ' – ' + fmtTime(ins.until)], ['episodes', t.episodes], ['completed', t.completed],
      ['success rate', fmtPct(t.success_rate)], ['partial', fmtPct(t.partial_rate)], ['failure', fmtPct(t.failure_rate)],
      ['abstained', fmtPct(t.abstained_rate)], ['mean reward', t.mean_reward == null ? '' : fmtNum(t.mean_reward)],
      ['tokens', t.tokens]].map(([k, v]) => [el('dt', null, k), el('dd', { 'data-field': k }, v)]));

  const cTimeline = el('div', { class: 'chart', id: 'chart-timeline' });
  const cTasks = el('div', { class: 'chart', id: 'chart-task-types' });
  const cToolErr = el('div', { class: 'chart', id: 'chart-tool-errors' });
  const cToolLat = el('div', { class: 'chart', id: 'chart-tool-latency' });
  const tools = ins.by_tool || [];
  const errors = ins.errors || [];
  replace(body,
    totals,
    el('h3', null, 'Timeline'), cTimeline,
    el('h3', null, 'By task type'), cTasks,
    table('insights-task-types', groupHeaders('task type'), groupRows(ins.by_task_type, (g) => g.task_type || g.key)),
    el('h3', null, 'By tool'), el('div', { class: 'charts' }, cToolErr, cToolLat),
    table('insights-tools', ['tool', 'uses', 'errors', 'error rate', 'latency p50', 'latency p95', 'tokens'], tools.map((x) => el('tr', { 'data-key': x.tool },
      el('td', { 'data-col': 'key' }, x.tool), el('td', { class: 'num', 'data-col': 'uses' }, x.uses), el('td', { class: 'num' }, x.errors),
      el('td', { class: 'num', 'data-col': 'error_rate' }, fmtPct(x.error_rate)), el('td', { class: 'num' }, fmtMS(x.latency_ms_p50)),
      el('td', { class: 'num' }, fmtMS(x.latency_ms_p95)), el('td', { class: 'num' }, x.tokens)))),
    el('h3', null, 'By domain'), table('insights-domains', groupHeaders('domain'), groupRows(ins.by_domain, (g) => g.key)),
    el('h3', null, 'By tag'), table('insights-tags', groupHeaders('tag'), groupRows(ins.by_tag, (g) => g.key)),
    el('h3', null, 'Most frequent errors'),
    table('insights-errors', ['source', 'tool', 'error', 'count', 'last seen', 'recovery patterns'], errors.map((e) => el('tr', null,
      el('td', null, e.source), el('td', null, e.tool || ''), el('td', { 'data-col': 'error_type' }, e.error_type),
      el('td', { class: 'num' }, e.count), el('td', { class: 'time' }, fmtTime(e.last_seen)), el('td', null, (e.recoveries || []).length)))),
    el('h3', null, 'Patterns by effectiveness'),
    table('insights-patterns', ['kind', 'summary', 'domain', 'effectiveness', 'success rate', 'applied', 'occurrences'], (ins.patterns || []).map((p) => el('tr', null,
      el('td', null, p.kind), el('td', null, p.summary), el('td', null, p.domain), el('td', { class: 'num' }, fmtPct(p.effectiveness)),
      el('td', { class: 'num' }, fmtPct(p.success_rate)), el('td', { class: 'num' }, p.times_applied), el('td', { class: 'num' }, p.occurrence_count)))),
    el('h3', null, 'Heuristics by confidence'),
    table('insights-heuristics', ['condition', 'action', 'domain', 'confidence'], (ins.heuristics || []).map((h) => el('tr', null,
      el('td', null, h.condition), el('td', null, h.action), el('td', null, h.domain), el('td', { class: 'num' }, fmtNum(h.confidence))))));

  const tl = ins.timeline || [];
  try {
    timeChart(cTimeline, 'Episodes and success rate per ' + (ins.bucket || bucket),
      tl.map((b) => Date.parse(b.bucket_start) / 1000),
      [{ label: 'episodes', values: tl.map((b) => b.episodes), bars: true },
        { label: 'success rate', values: tl.map((b) => (b.completed ? b.success_rate : null)), scale: 'rate' }]);
    const tt = ins.by_task_type || [];
    barChart(cTasks, 'Success rate by task type', tt.map((g) => g.task_type || g.key),
      [{ label: 'success rate', values: tt.map((g) => g.success_rate), format: fmtPct }], { yMax: 1 });
    barChart(cToolErr, 'Error rate by tool', tools.map((x) => x.tool),
      [{ label: 'error rate', values: tools.map((x) => x.error_rate), format: fmtPct }], { yMax: 1 });
    barChart(cToolLat, 'Latency by tool (ms)', tools.map((x) => x.tool),
      [{ label: 'p50', values: tools.map((x) => x.latency_ms_p50) }, { label: 'p95', values: tools.map((x) => x.latency_ms_p95) }], { yLabel: 'ms' });
  } catch (err) {
    cTimeline.replaceWith(errorBox(err, 'chart-error'));
  }
}
