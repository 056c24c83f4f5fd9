// HTTP API calls. The session cookie (HttpOnly, set by setup/login) authenticates every call.

/** An error from the API, with its HTTP status and the server's error code. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Call the API and return its JSON (null for 204); throw ApiError on any failure. */
export async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, 'NETWORK', 'Cannot reach the server');
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || 'HTTP_' + response.status,
      error.message || `Request failed (${response.status})`);
  }
  return data;
}

export const getSetup = () => request('GET', '/api/setup');
export const setup = (email, name, password) => request('POST', '/api/setup', { email, name, password });
export const login = (email, password) => request('POST', '/api/auth/login', { email, password });
export const logout = () => request('POST', '/api/auth/logout');
export const me = () => request('GET', '/api/users/me');
export const users = () => request('GET', '/api/users');
export const rooms = () => request('GET', '/api/rooms');
export const createRoom = (name, roomType) => request('POST', '/api/rooms', { name, room_type: roomType });
export const directRoom = (userIds) => request('POST', '/api/rooms/direct', { user_ids: userIds });

/** A page of a room's history, oldest first: {messages, has_more}. */
export function messages(roomId, { before, after, limit = 50 } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before != null) query.set('before', String(before));
  if (after != null) query.set('after', String(after));
  return request('GET', `/api/rooms/${encodeURIComponent(roomId)}/messages?${query}`);
}

// Files, avatars and search (issue 14). Uploads with progress are in upload.js.

/** The page of a room's history centred on `seq`: {messages, has_more, has_more_after}. */
export function messagesAround(roomId, seq, limit = 50) {
  const query = new URLSearchParams({ around: String(seq), limit: String(limit) });
  return request('GET', `/api/rooms/${encodeURIComponent(roomId)}/messages?${query}`);
}

/** Full-text search, newest first: {results: [{message, snippet}], has_more, next_before}. */
export function search({ q, roomId, before, limit = 20 }) {
  const query = new URLSearchParams({ q, limit: String(limit) });
  if (roomId) query.set('room_id', roomId);
  if (before != null) query.set('before', String(before));
  return request('GET', `/api/search?${query}`);
}

export const removeAvatar = () => request('DELETE', '/api/users/me/avatar');
