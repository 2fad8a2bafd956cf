// The API client: fetch with the user's token, JSON in and out, pagination
// from the Link header, and errors that say what the server said.

import { session } from './session.js';
import { formatWait } from './dom.js';

/** ApiError is a refusal from the server, with its JSON error body. */
export class ApiError extends Error {
  constructor(status, body, headers) {
    const msg = (body && (body.error_description || body.error)) || `The server answered ${status}`;
    super(msg);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
    /** Per-field errors of a sign-up: { username: [{error, description}] }. */
    this.details = body && typeof body.details === 'object' ? body.details : null;
    /** Seconds to wait before retrying (429, 503), or null. */
    this.retryAfter = retryAfterSeconds(headers);
  }
}

/**
 * retryAfterSeconds reads Retry-After (seconds or a date), else
 * X-RateLimit-Reset (an ISO time, possibly with microseconds).
 */
export function retryAfterSeconds(headers, now = Date.now()) {
  if (!headers) return null;
  const ra = headers.get('Retry-After');
  if (ra) {
    const n = Number(ra);
    if (Number.isFinite(n)) return Math.max(0, Math.ceil(n));
    const d = Date.parse(ra);
    if (!Number.isNaN(d)) return Math.max(0, Math.ceil((d - now) / 1000));
  }
  const reset = headers.get('X-RateLimit-Reset');
  if (reset) {
    const d = Date.parse(reset.replace(/(\.\d{3})\d+/, '$1'));
    if (!Number.isNaN(d)) return Math.max(0, Math.ceil((d - now) / 1000));
  }
  return null;
}

/**
 * describeError turns any failure into a sentence for the user. For a
 * refusal it is the server's own message, and for 429 the time to wait.
 */
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 429) {
      const wait = err.retryAfter != null ? ` Try again in ${formatWait(err.retryAfter)}.` : ' Try again later.';
      return `${err.message} (429).${wait}`;
    }
    if (err.status === 503 && err.retryAfter != null) {
      return `${err.message} (503). Try again in ${formatWait(err.retryAfter)}.`;
    }
    return `${err.message} (${err.status})`;
  }
  if (err && err.name === 'AbortError') return 'The request was cancelled.';
  if (err instanceof TypeError) return 'Could not reach the server. Check your connection and try again.';
  return (err && err.message) || 'Something went wrong.';
}

/**
 * parseLink reads a Link header into { next, prev }: the path and query of
 * each URL (the host is ignored, as masto.js does), or undefined.
 */
export function parseLink(header) {
  const out = {};
  if (!header) return out;
  const re = /<([^>]+)>\s*;\s*rel="([^"]+)"/g;
  let m;
  while ((m = re.exec(header))) {
    let u;
    try { u = new URL(m[1], 'http://link.invalid'); } catch { continue; }
    for (const rel of m[2].split(/\s+/)) out[rel] = u.pathname + u.search;
  }
  return out;
}

/** encodeQuery writes params Rails style: arrays as key[]=a&key[]=b. */
export function encodeQuery(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v == null || v === '') continue;
    if (Array.isArray(v)) for (const x of v) q.append(`${k}[]`, x);
    else q.append(k, String(v));
  }
  return q.toString();
}

/**
 * request calls the API. Options: query, json (a body sent as JSON), form
 * (a FormData), token (defaults to the user's; null for none), headers,
 * signal. It resolves to { data, status, next, prev, headers } and throws
 * an ApiError for a non-2xx answer. A 401 on the user's token signs out.
 */
export async function request(method, path, opts = {}) {
  const { query, json, form, signal, headers = {} } = opts;
  const token = 'token' in opts ? opts.token : session.token;
  let url = path;
  if (query) {
    const q = encodeQuery(query);
    if (q) url += (url.includes('?') ? '&' : '?') + q;
  }
  const init = { method, headers: { Accept: 'application/json', ...headers }, signal, cache: 'no-store' };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(json);
  } else if (form) {
    init.body = form;
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: text.slice(0, 300) };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, body, res.headers);
    if (res.status === 401 && token && token === session.token) session.expire();
    throw err;
  }
  const links = parseLink(res.headers.get('Link'));
  return { data: body, status: res.status, next: links.next || null, prev: links.prev || null, headers: res.headers };
}

/** get is request('GET', ...) returning just the data. */
export async function get(path, query) {
  return (await request('GET', path, { query })).data;
}

/** post is request('POST', ...) with a JSON body, returning the data. */
export async function post(path, json = {}) {
  return (await request('POST', path, { json })).data;
}
