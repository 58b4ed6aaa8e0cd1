// The console's only way to the server: fetch against this origin's API,
// with the bearer token from sessionStorage in the Authorization header.
// The token is never put in a URL, a cookie or localStorage; credentials
// are omitted so no cookie of this origin rides along either.

const TOKEN_KEY = 'engram.token';
const NS_KEY = 'engram.namespace';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(t) {
  t = String(t || '').trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function namespace() {
  return sessionStorage.getItem(NS_KEY) || 'default';
}

export function setNamespace(ns) {
  ns = String(ns || '').trim();
  if (ns) sessionStorage.setItem(NS_KEY, ns);
  else sessionStorage.removeItem(NS_KEY);
}

// ApiError is a non-2xx answer: status, the API's error code and message.
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

// api calls the API. query: an object of parameters (arrays repeat);
// body: sent as JSON. It resolves to the decoded answer, or rejects with
// an ApiError.
export async function api(method, path, { query, body, signal } = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === '') continue;
    for (const x of Array.isArray(v) ? v : [v]) params.append(k, String(x));
  }
  const qs = params.toString();
  const headers = { Accept: 'application/json', 'X-Engram-Namespace': namespace() };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const init = { method, headers, credentials: 'omit', cache: 'no-store', redirect: 'error', referrerPolicy: 'no-referrer', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path + (qs ? '?' + qs : ''), init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server did not answer (' + (e && e.message ? e.message : e) + ')');
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = data && data.error ? data.error : {};
    throw new ApiError(res.status, e.code || 'http_' + res.status, e.message || res.statusText || 'request failed', e.field);
  }
  return data;
}
