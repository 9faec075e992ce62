// The order service's public API, as a browser calls it (services/order/API.md).
//
// Same origin, so no CORS. The access token lives in sessionStorage (this tab only, gone
// when it closes) and travels in the Authorization header, never in a cookie. Every request
// says the reader's language, so that errors (problem+json) and the API's own words come
// in it.

import { language, t } from './i18n.js';

const TOKEN = 'topup.token';

/** A refusal from the API: its machine `code`, and its words for the customer. */
export class Problem extends Error {
  constructor(status, body = {}, headers = null) {
    const fields = Object.values(body.errors || {}).flat().filter((m) => typeof m === 'string');
    super([body.detail || body.title || t('network_error'), ...fields].join(' '));
    this.status = status;
    this.code = body.code || 'network_error';
    this.retryAfter = Number(headers?.get('Retry-After')) || null;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(TOKEN); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN, value);
    else sessionStorage.removeItem(TOKEN);
  },
};

/** Called when the API answers 401: the sign-in ended (expired, or the password changed). */
export let onSignedOut = () => {};
export function whenSignedOut(handler) { onSignedOut = handler; }

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

/**
 * One request; the Response for 2xx and 304, else a Problem. A 503 (the database was briefly
 * away) is asked again after its Retry-After when repeating is safe: a read, or a write with
 * an Idempotency-Key.
 */
export async function request(method, path, { body, headers = {}, signal } = {}) {
  const sent = { Accept: 'application/json', 'Accept-Language': language(), ...headers };
  if (session.token) sent.Authorization = `Bearer ${session.token}`;
  if (body !== undefined) sent['Content-Type'] = 'application/json';
  const repeatable = method === 'GET' || 'Idempotency-Key' in headers;
  for (let attempt = 0; ; attempt += 1) {
    let response;
    try {
      response = await fetch(path, {
        method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body), signal, cache: 'no-store',
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new Problem(0);
    }
    if (response.ok || response.status === 304) return response;
    const problem = new Problem(response.status, await response.json().catch(() => ({})), response.headers);
    if (response.status === 503 && repeatable && attempt < 3 && problem.retryAfter <= 10) {
      await sleep(problem.retryAfter * 1000, signal);
      continue;
    }
    if (response.status === 401 && sent.Authorization) onSignedOut(problem);
    throw problem;
  }
}

export async function get(path, signal) {
  return (await request('GET', path, { signal })).json();
}

export async function post(path, body, headers = {}) {
  const response = await request('POST', path, { body, headers });
  return response.status === 204 ? null : response.json();
}

export async function patch(path, body) {
  return (await request('PATCH', path, { body })).json();
}

export async function logIn(email, password) {
  const { access_token: token } = await post('/v1/auth/login', { email, password });
  session.token = token;
}

/** A key for one confirmation: the same click repeated sends the same key (so one order). */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // a version 4 UUID
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const ENDED = new Set(['completed', 'failed', 'expired', 'refunded', 'cancelled']);

/**
 * Follow an order until `done(order)`: long polling (If-None-Match with the last ETag,
 * Prefer: wait=10) answers the moment it changes. Where the server declines to wait (no
 * Preference-Applied: SQLite, or busy) it answers at once, and we pause before asking again.
 */
export async function follow(orderId, done, changed, signal) {
  let order = null;
  let etag = null;
  while (order === null || !done(order)) {
    const headers = etag ? { 'If-None-Match': etag, Prefer: 'wait=10' } : {};
    const response = await request('GET', `/v1/orders/${encodeURIComponent(orderId)}`, { headers, signal });
    if (response.status === 200) {
      order = await response.json();
      etag = response.headers.get('ETag');
      changed(order);
    } else if (!response.headers.has('Preference-Applied')) {
      await sleep(1000, signal);
    }
  }
  return order;
}
