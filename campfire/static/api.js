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

/** A room's members; with `query`, up to 20 whose name, or a word of it, starts with it. */
export const members = (roomId, query) =>
  request(
    'GET',
    `/api/rooms/${encodeURIComponent(roomId)}/members` +
      (query === undefined ? '' : `?${new URLSearchParams({ query })}`),
  );
// --- Team: the account, people, my account, room settings, involvement, bots ------------
const room = (id) => `/api/rooms/${encodeURIComponent(id)}`;
const user = (id) => `/api/users/${encodeURIComponent(id)}`;
const bot = (id) => `/api/bots/${encodeURIComponent(id)}`;
export const account = () => request('GET', '/api/account');
export const updateAccount = (changes) => request('PATCH', '/api/account', changes);
export const newJoinCode = () => request('POST', '/api/account/join_code');
export const createUser = (fields) => request('POST', '/api/users', fields);
export const updateUser = (id, changes) => request('PATCH', user(id), changes);
export const loginLink = (id) => request('POST', `${user(id)}/login_link`);
export const renameMe = (name) => request('PATCH', '/api/users/me', { name });
export const changePassword = (current, password) =>
  request('PUT', '/api/users/me/password', { current_password: current, password });
export const sessions = () => request('GET', '/api/users/me/sessions');
export const endSession = (id) => request('DELETE', `/api/users/me/sessions/${encodeURIComponent(id)}`);
export const updateRoom = (id, changes) => request('PATCH', room(id), changes);
export const deleteRoom = (id) => request('DELETE', room(id));
export const addMember = (id, userId) => request('POST', `${room(id)}/members`, { user_id: userId });
export const removeMember = (id, userId) =>
  request('DELETE', `${room(id)}/members/${encodeURIComponent(userId)}`);
export const setInvolvement = (id, involvement) =>
  request('PUT', `${room(id)}/involvement`, { involvement });
export const bots = () => request('GET', '/api/bots');
export const getBot = (id) => request('GET', bot(id));
export const createBot = (name, webhookUrl) =>
  request('POST', '/api/bots', webhookUrl ? { name, webhook_url: webhookUrl } : { name });
export const updateBot = (id, changes) => request('PATCH', bot(id), changes);
export const resetBotKey = (id) => request('POST', `${bot(id)}/key`);
export const removeBot = (id) => request('DELETE', bot(id));
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
