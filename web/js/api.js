// api.js -- the only way the dashboard talks to the daemon: same-origin /api/v1.
//
// Reads need no token.  When the daemon has a token configured
// (GET /api/v1/config says server.auth is not "off"), write calls carry
// "Authorization: Bearer <token>"; the token lives in sessionStorage only
// (gone when the tab closes) and is dropped when the daemon refuses it.

const TOKEN_KEY = 'creditsense.token';

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = extra.retryAfter || null;
    this.body = extra.body || null;
  }

  get unreachable() {
    return this.status === 0;
  }
}

const listeners = new Set();

export const auth = {
  /** null until the config was read; then true when a token is configured. */
  required: null,
  get token() {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  },
  setToken(t) {
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      // storage disabled: the token is simply not kept
    }
    notify();
  },
  /** Can this page call write endpoints now? */
  get canWrite() {
    return this.required === false || (this.required !== false && !!this.token);
  },
  onChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

function notify(reason) {
  for (const fn of listeners) fn(reason);
}

/**
 * Call the API.  Resolves with the parsed JSON body; rejects with ApiError:
 * status 0 when the daemon cannot be reached, else the HTTP status with the
 * daemon's {"error": {"code", "message"}}.
 */
export async function api(path, {method = 'GET', body, signal} = {}) {
  const headers = {Accept: 'application/json'};
  const write = method !== 'GET' && method !== 'HEAD';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (write && auth.token) headers.Authorization = `Bearer ${auth.token}`;
  let res;
  try {
    res = await fetch(path, {
      method, headers, signal, cache: 'no-store', credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'The CreditSense daemon cannot be reached: it may be stopped or restarting, ' +
      'or the network between you and it is down.');
  }
  const text = await res.text().catch(() => '');
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (!res.ok) {
    const err = data && typeof data === 'object' && data.error && typeof data.error === 'object' ? data.error : {};
    const e = new ApiError(res.status, String(err.code || `http_${res.status}`),
      String(err.message || `${res.status} ${res.statusText || ''}`.trim()),
      {retryAfter: res.headers.get('retry-after'), body: data});
    if (res.status === 401 && write) {
      const had = !!auth.token;
      auth.setToken('');
      notify(had ? 'refused' : 'needed');
    }
    throw e;
  }
  if (data === null && text) throw new ApiError(res.status, 'bad_response', 'The daemon answered with something that is not JSON.');
  return data;
}

export const enc = encodeURIComponent;

/** Plain-language text for an error, for any view. */
export function explain(e) {
  if (!(e instanceof ApiError)) return String((e && e.message) || e);
  if (e.unreachable) return e.message;
  switch (e.status) {
    case 401: return 'This action needs the access token of this CreditSense installation. Enter it with “Enter token” at the top.';
    case 429: return `Too many requests from this browser; try again in ${e.retryAfter || 'a few'} seconds.`;
    case 501: return `Not available in this daemon: ${e.message}`;
    case 503: return `The daemon is not ready: ${e.message}`;
    default: return e.message;
  }
}
