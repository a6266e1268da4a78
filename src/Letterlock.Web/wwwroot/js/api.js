// The app's API: every call carries the session's CSRF token (kept in this origin's localStorage, never in a URL or
// a cookie), so a request from anywhere else, even with the cookie, is refused.

const tokenKey = 'letterlock.csrf';

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail || title);
    this.status = status;
    this.title = title;
  }
}

export function hasSession() {
  return localStorage.getItem(tokenKey) !== null;
}

/** Exchanges the login link's one-time token (from the URL fragment) for the session. */
export async function signIn(token) {
  const response = await fetch('/api/session', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token }),
    credentials: 'same-origin',
  });
  if (!response.ok) throw await problem(response);
  const { csrf } = await response.json();
  localStorage.setItem(tokenKey, csrf);
}

export async function signOut() {
  try { await call('DELETE', '/api/session'); } finally { localStorage.removeItem(tokenKey); }
}

let onSignedOut = () => {};
export function whenSignedOut(handler) { onSignedOut = handler; }

async function problem(response) {
  let body = {};
  try { body = await response.json(); } catch { /* not JSON */ }
  return new ApiError(response.status, body.title || response.statusText, body.detail);
}

/** One API call; JSON in and out. */
export async function call(method, path, body, raw) {
  const headers = { 'X-Letterlock-Csrf': localStorage.getItem(tokenKey) ?? '' };
  let payload;
  if (raw) {
    payload = raw.body;
    headers['Content-Type'] = raw.type || 'application/octet-stream';
    Object.assign(headers, raw.headers ?? {});
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['Content-Type'] = 'application/json';
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: 'same-origin' });
  if (response.status === 401) {
    localStorage.removeItem(tokenKey);
    onSignedOut();
  }
  if (!response.ok) throw await problem(response);
  const type = response.headers.get('Content-Type') ?? '';
  return type.includes('json') ? response.json() : response.blob();
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body ?? {});
export const del = (path) => call('DELETE', path);

/** Downloads an attachment: fetched with the token, handed to the browser as a file. */
export async function download(path, name) {
  const blob = await call('GET', path);
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export const enc = encodeURIComponent;
