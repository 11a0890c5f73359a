// The one API client every page uses. Sessions live in httpOnly cookies;
// when the short-lived access cookie has expired the first 401 trades the
// refresh cookie for new ones (once, shared by concurrent callers) and the
// request is repeated. When that fails too the session is over and
// `onSessionEnd` shows the login form.

let refreshing = null;
let onSessionEnd = () => {};

/** Called with no arguments when the session can no longer be refreshed. */
export function whenSessionEnds(f) {
  onSessionEnd = f;
}

/** Trades the refresh cookie for new cookies; resolves to the response. */
export function refresh() {
  if (!refreshing) {
    refreshing = fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function send(path, init) {
  const res = await fetch(path, { credentials: "same-origin", ...init });
  if (res.status !== 401 || path.startsWith("/api/v1/auth/")) return res;
  const r = await refresh();
  if (!r.ok) { onSessionEnd(); return res; }
  return fetch(path, { credentials: "same-origin", ...init });
}

/** A JSON request (`body` is serialised); resolves to the Response. */
export function api(path, { method = "GET", body } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return send(path, init);
}

/** A multipart upload (the browser sets the boundary). */
export function upload(path, form) {
  return send(path, { method: "POST", body: form });
}

/** The API's error message (its error format), or the HTTP status. */
export async function errorText(res) {
  try {
    const body = await res.json();
    return body.error && body.error.message ? body.error.message : `HTTP ${res.status}`;
  } catch (_) {
    return `HTTP ${res.status}`;
  }
}

/**
 * Every item of a paginated list (data/meta), page after page, up to
 * `limit` items; rejects with the API's message when a page is refused.
 */
export async function all(path, params = {}, limit = 20000) {
  const out = [];
  for (let page = 1; ; page += 1) {
    const q = new URLSearchParams({ ...params, per_page: "1000", page: String(page) });
    const res = await api(`${path}?${q}`);
    if (!res.ok) throw new Error(await errorText(res));
    const body = await res.json();
    out.push(...body.data);
    if (body.data.length === 0 || out.length >= body.meta.total || out.length >= limit) return out;
  }
}

/** `ws(s)://host/path` for a WebSocket on this origin. */
export function wsUrl(path) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

/**
 * Called when a WebSocket closed: a refused upgrade (1008) or an
 * abnormal close may mean the access cookie expired, so refresh; resolves
 * to false when the session is over (the caller should not reconnect).
 */
export async function mayReconnect(code) {
  if (code !== 1008 && code !== 1006) return true;
  const r = await refresh();
  if (r.ok) return true;
  const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
  if (me.status === 401) { onSessionEnd(); return false; }
  return true;
}
