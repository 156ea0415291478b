// Calls to the wangge server this page came from (same origin only), with
// the signed-in token when there is one (token.js).

import { authHeaders } from './token.js';

/** An answer the server refused: its JSON error code and message. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * GETs `path` with `params` (omitting empty ones) and returns the JSON body.
 * A non-2xx answer throws ApiError with the server's message.
 */
export async function get(path, params = {}, { signal, token } = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const url = q.size ? `${path}?${q}` : path;
  const auth = token ? { Authorization: `Bearer ${token}` } : authHeaders();
  const res = await fetch(url, { signal, headers: { Accept: 'application/json', ...auth } });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    throw new ApiError(res.status, body?.error ?? 'http', body?.message ?? `${res.status} ${res.statusText}`);
  }
  return body;
}

export const api = {
  grid: (code) => get(`/grids/${encodeURIComponent(code)}`),
  gridStats: (code) => get(`/grids/${encodeURIComponent(code)}/stats`),
  component: (code) => get(`/components/${encodeURIComponent(code)}`),
  lookup: (lon, lat, crs) => get('/lookup', { lon, lat, crs: crs === 'EPSG:4326' ? '' : crs }),
  search: (q, signal) => get('/search', { q, limit: 12 }, { signal }),
  levelStats: (level, cls) => get('/stats', { level, class: cls }),
  classes: () => get('/classes'),
  tilejson: () => get('/tiles/grids,components'),
  /** Who the stored token (or `token`, to check one before keeping it) is. */
  whoami: (token) => get('/whoami', {}, { token }),
};
