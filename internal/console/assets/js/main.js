// The console's entry: the token and namespace forms, and a router over
// the location's hash (#/episodes, #/episode/ID, #/patterns, ...). The
// hash carries view and filters only, never the token.

import { token, setToken, namespace, setNamespace } from './api.js';
import { replace, errorBox } from './dom.js';
import { renderList, renderEpisode } from './episodes.js';
import { renderPatterns, renderHeuristics } from './knowledge.js';
import { renderSearch } from './search.js';
import { renderInsights } from './insights.js';
import { renderStatus } from './status.js';

const view = document.getElementById('view');
const notice = document.getElementById('notice');

const VIEWS = {
  episodes: (p) => renderList(view, p, go),
  episode: (p, id) => renderEpisode(view, id),
  patterns: (p) => renderPatterns(view, p, go),
  heuristics: (p) => renderHeuristics(view, p, go),
  search: (p) => renderSearch(view, p, go),
  insights: (p) => renderInsights(view, p, go),
  status: () => renderStatus(view),
};

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const h = location.hash.replace(/^#\/?/, '');
  const [path, qs] = h.split('?', 2);
  const [name, ...rest] = path.split('/');
  return { name: VIEWS[name] ? name : 'episodes', id: decodeURIComponent(rest.join('/')), params: new URLSearchParams(qs || '') };
}

let seq = 0;

async function route() {
  const { name, id, params } = parseHash();
  const mine = ++seq;
  for (const a of document.querySelectorAll('nav.tabs a')) {
    a.classList.toggle('active', a.dataset.view === name || (name === 'episode' && a.dataset.view === 'episodes'));
  }
  view.dataset.view = name;
  view.dataset.state = 'loading';
  try {
    await VIEWS[name](params, id);
  } catch (err) {
    replace(view, errorBox(err, 'view-error'));
  }
  if (mine === seq) {
    view.dataset.state = 'ready';
    authNotice();
  }
}

// authNotice tells the user to enter a token when the last view was refused.
function authNotice() {
  const refused = view.querySelector('.error');
  const unauth = refused && /^unauthorized|^http_401/.test(refused.textContent);
  notice.hidden = !unauth;
  if (unauth) {
    replace(notice, token() ? 'The server refused this token: enter another one above.' : 'This server needs a bearer token: enter it above (it is kept in this tab only).');
  }
}

function tokenState() {
  replace(document.getElementById('token-state'), token() ? 'token set' : 'no token');
}

function setup() {
  const tokForm = document.getElementById('token-form');
  const tokInput = document.getElementById('token-input');
  tokForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    setToken(tokInput.value);
    tokInput.value = '';
    tokenState();
    route();
  });
  document.getElementById('token-forget').addEventListener('click', () => {
    setToken('');
    tokenState();
    route();
  });
  const nsForm = document.getElementById('ns-form');
  const nsInput = document.getElementById('ns-input');
  nsInput.value = namespace();
  const nsChange = () => {
    setNamespace(nsInput.value);
    nsInput.value = namespace();
    route();
  };
  nsForm.addEventListener('submit', (ev) => { ev.preventDefault(); nsChange(); });
  nsInput.addEventListener('change', nsChange);
  tokenState();
  window.addEventListener('hashchange', route);
  route();
}

setup();
