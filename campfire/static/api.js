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

// Messages that live (addition): edits, deletions, boosts, and the @ autocomplete.
const messagePath = (id) => `/api/messages/${encodeURIComponent(id)}`;
export const editMessage = (id, content) => request('PATCH', messagePath(id), { content });
export const deleteMessage = (id) => request('DELETE', messagePath(id));
export const addBoost = (id, content) => request('POST', `${messagePath(id)}/boosts`, { content });
export const removeBoost = (id, boostId) =>
  request('DELETE', `${messagePath(id)}/boosts/${encodeURIComponent(boostId)}`);

/** Up to 20 members of a room whose name, or a word of it, starts with `query`. */
export const members = (roomId, query) =>
  request('GET', `/api/rooms/${encodeURIComponent(roomId)}/members?${new URLSearchParams({ query })}`);
