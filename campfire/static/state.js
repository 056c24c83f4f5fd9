// Shared state of the page and the small helpers every module uses.

export const $ = (id) => document.getElementById(id);
export const PAGE_SIZE = 50;
export const CATCH_UP_LIMIT = 200;
export const phone = window.matchMedia('(max-width: 720px)');

export const state = {
  me: null,
  users: new Map(), // id -> user
  rooms: new Map(), // id -> room from /api/rooms, plus `unreadCount`
  currentId: null,
  draftDirect: null, // a person picked to talk to, before the first message creates the room
  view: null, // the open room's loaded history (see messages.newView)
  pending: new Map(), // client_message_id -> local message not yet echoed by the server
  present: [],
  typing: new Set(),
  typingSentAt: 0, // when StartTyping was last sent; 0 while not typing
  socket: null,
  everReady: false,
  leaving: false, // navigating away on purpose (signed out): no "unsent messages" prompt
  seenSent: null,
  account: null, // GET /api/account: name, and for signed-in people its settings
  accountName: null, // the Campfire's name, shown in the title and on the sign-in page
};

/** A UUID v4 (crypto.randomUUID needs a secure context; plain-HTTP deployments lack one). */
export function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Show one of the page's top-level views: 'loading', 'auth-view' or 'chat-view'. */
export function show(view) {
  for (const id of ['loading', 'auth-view', 'chat-view']) $(id).hidden = id !== view;
}

/** A short notice above the messages that goes away by itself. */
export function showNotice(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => { notice.hidden = true; }, 6000);
}

/** Read this user's saved value (JSON in localStorage), or `fallback`. */
export function loadSaved(name, fallback) {
  try {
    const raw = localStorage.getItem(`campfire.${name}.${state.me.id}`);
    return raw ? JSON.parse(raw) : fallback;
  } catch {
    return fallback; // unreadable (edited by hand, say): start afresh
  }
}

/** Save a value for this user (drafts, the outbox) so it survives reloads. */
export function save(name, value) {
  try {
    localStorage.setItem(`campfire.${name}.${state.me.id}`, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the value lives on in memory for this page.
  }
}
