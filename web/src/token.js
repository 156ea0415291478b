// The bearer token this browser tab signed in with (an API key from
// `wangge token create` or a JWT of the identity provider), kept in
// sessionStorage: it ends with the tab and is sent only to this server.

const KEY = 'wangge.token';

/** The token, or '' when signed out. */
export function token() {
  try {
    return sessionStorage.getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/** Keeps `value` as the token ('' signs out). */
export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}

/** The Authorization header for this server's requests, when signed in. */
export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Whether `url` is on this page's server (the only one the token goes to). */
export function ownServer(url) {
  return new URL(url, location.href).origin === location.origin;
}
