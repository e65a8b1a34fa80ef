// The REST client. Where tokens live: the access token only in this module's memory; the refresh
// token in sessionStorage (this tab only, survives a reload, gone when the tab closes; never in
// localStorage, never in a cookie the page can read). In SSO cookie mode the page holds no token at
// all: the HttpOnly cookie rides on same-origin requests and the WebSocket handshake, and is refreshed
// from its refresh cookie. Every request says `X-Requested-With`: the server refuses cookie-authenticated
// writes without it (a cross-site form cannot send it).

const REFRESH_KEY = 'rustchat.refresh';
let access = null;
let refreshTimer = null;
const listeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called with the new access token after each refresh (the socket re-authenticates with it). */
export function onToken(fn) { listeners.add(fn); }

export function accessToken() { return access; }
export function hasRefresh() { return !!sessionStorage.getItem(REFRESH_KEY); }

export function setTokens(pair) {
  access = pair.access_token;
  sessionStorage.setItem(REFRESH_KEY, pair.refresh_token);
  clearTimeout(refreshTimer);
  const ms = Math.max(5, pair.expires_in * 0.8) * 1000;
  refreshTimer = setTimeout(() => { refresh().catch(() => {}); }, ms);
  for (const fn of listeners) fn(access);
}

export function clearTokens() {
  access = null;
  clearTimeout(refreshTimer);
  sessionStorage.removeItem(REFRESH_KEY);
}

let refreshing = null;
/** Trades the refresh token for a new pair; one at a time (a refresh token works once). */
export function refresh() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) return Promise.reject(new ApiError(401, 'unauthorized', 'not signed in'));
  refreshing ??= raw('POST', '/auth/refresh', { refresh_token: token }, false)
    .then((pair) => { setTokens(pair); return pair; })
    .catch((e) => { if (e.status === 401) clearTokens(); throw e; })
    .finally(() => { refreshing = null; });
  return refreshing;
}

async function raw(method, path, body, auth = true) {
  const headers = { accept: 'application/json', 'x-requested-with': 'rustchat' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (auth && access) headers.authorization = `Bearer ${access}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'The server cannot be reached. Retrying may help.');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const err = data?.error ?? {};
    throw new ApiError(response.status, err.code ?? 'error', err.message ?? `HTTP ${response.status}`);
  }
  return data;
}

let cookieRefreshing = null;
/** SSO cookie mode: new cookies from the refresh cookie (the page never sees a token). */
export function refreshCookies() {
  cookieRefreshing ??= raw('POST', '/auth/refresh', {}, false).finally(() => { cookieRefreshing = null; });
  return cookieRefreshing;
}

let cookieTimer = null;
/** Keeps a cookie session alive: its access cookie lasts 15 minutes. */
export function keepCookieSession() {
  clearInterval(cookieTimer);
  cookieTimer = setInterval(() => { refreshCookies().catch(() => {}); }, 10 * 60 * 1000);
}

/** A request with the session's credentials; an expired access token (or cookie) is refreshed once. */
export async function api(method, path, body) {
  try {
    return await raw(method, path, body);
  } catch (e) {
    if (e.status !== 401 || path.startsWith('/auth/')) throw e;
    if (hasRefresh()) await refresh();
    else if (!access) await refreshCookies();
    else throw e;
    return raw(method, path, body);
  }
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const patch = (path, body) => api('PATCH', path, body);
export const del = (path) => api('DELETE', path);
export const anonymous = (method, path, body) => raw(method, path, body, false);
