// Status (GET /v1/status): each tier's state and statistics (hit rates,
// sizes, the durable tier's circuit breaker), the cache's lag behind the
// change feed, and the vector indexes.

import { api } from './api.js';
import { el, replace, table, fmtPct, fmtBytes, fmtTime, errorBox } from './dom.js';

const BYTES = new Set(['bytes', 'file_size']);
// ORDER puts the figures people look for first; other stats follow by name.
const ORDER = ['hit_rate', 'hits', 'misses', 'reads', 'entries', 'bytes', 'file_size', 'writes', 'deletes',
  'evictions', 'expirations', 'corrupt', 'breaker', 'fills', 'fills_dropped', 'cache_write_failures'];

function statValue(k, v) {
  if (k === 'hit_rate') return fmtPct(v);
  if (BYTES.has(k)) return v + ' B (' + fmtBytes(v) + ')';
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function tierCard(t) {
  const stats = t.stats || {};
  const keys = Object.keys(stats).sort((a, b) => {
    const ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return el('section', { class: 'tier ' + t.state, 'data-tier': t.tier },
    el('h3', null, t.tier, ' ', el('span', { class: 'badge ' + t.state, 'data-field': 'state' }, t.state)),
    t.detail ? el('p', { class: 'muted detail', 'data-field': 'detail' }, t.detail) : null,
    el('dl', { class: 'fields' }, keys.map((k) => [el('dt', null, k), el('dd', { 'data-stat': k }, statValue(k, stats[k]))])));
}

export async function renderStatus(view) {
  const refresh = el('button', { type: 'button', id: 'status-refresh' }, 'Refresh');
  const body = el('div', { id: 'status-body' }, el('p', { class: 'muted' }, 'loading…'));
  replace(view, el('h2', null, 'Status'), el('p', null, refresh), body);
  refresh.addEventListener('click', () => load(body));
  await load(body);
}

async function load(body) {
  body.dataset.state = 'loading';
  try {
    show(body, await api('GET', '/v1/status'));
  } catch (err) {
    replace(body, errorBox(err, 'status-error'));
  }
  body.dataset.state = 'ready';
}

function show(body, st) {
  const sync = [['last_seq', st.last_seq], ['watermark', st.watermark], ['lag', st.lag], ['stale', st.stale ? 'yes' : 'no'],
    ['last_sync', fmtTime(st.last_sync)], ['last_sync_error', st.last_sync_error]];
  const idx = st.indexes || [];
  replace(body,
    el('section', { id: 'status-sync', class: st.stale || st.lag ? 'warn' : '' }, el('h3', null, 'Cache vs change feed'),
      el('dl', { class: 'fields' }, sync.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => [el('dt', null, k), el('dd', { 'data-field': k }, v)]))),
    el('div', { class: 'tiers', id: 'status-tiers' }, (st.tiers || []).map(tierCard)),
    el('h3', null, 'Vector indexes'),
    idx.length ? table('status-indexes', ['namespace', 'item type', 'model', 'dim', 'kind', 'vectors', 'size', 'lag', 'last rebuild'], idx.map((x) => el('tr', null,
      el('td', null, x.namespace), el('td', null, x.item_type), el('td', null, x.model), el('td', { class: 'num' }, x.dim),
      el('td', null, x.kind), el('td', { class: 'num', 'data-col': 'vectors' }, x.vectors), el('td', { class: 'num' }, fmtBytes(x.bytes)),
      el('td', { class: 'num' }, x.lag), el('td', { class: 'time' }, fmtTime(x.last_rebuild))))) : el('p', { class: 'muted', id: 'status-indexes' }, 'no vector index loaded'));
}
