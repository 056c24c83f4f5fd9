// The open room's history: loading pages, live messages, catch-up after a reconnect, and the
// last-seen mark.
import * as api from './api.js';
import { failed } from './auth.js';
import { on } from './events.js';
import { nameOf, refreshUsersSoon } from './people.js';
import { messageItem, setPending } from './render.js';
import { loadRooms, renderRooms } from './rooms.js';
import { $, CATCH_UP_LIMIT, PAGE_SIZE, state } from './state.js';

/** A fresh, empty view of a room's history. */
export function newView(roomId) {
  return { roomId, ids: new Set(), oldestSeq: null, newestSeq: null, newestId: null,
    hasMore: false, loading: false, loaded: false, resumeSeq: null };
}

/** The newest page of the open room, merged into what is shown. */
export async function loadLatest(view) {
  view.loading = true;
  renderHistoryStatus();
  try {
    const page = await api.messages(view.roomId, { limit: PAGE_SIZE });
    if (state.view !== view) return;
    page.messages.forEach(insertMessage);
    if (!view.loaded) view.hasMore = page.has_more;
    view.loaded = true;
    showPendingOf(view.roomId);
    scrollToBottom();
    markSeenSoon();
  } catch (err) {
    if (state.view === view) failed(err, 'Could not load messages');
  } finally {
    view.loading = false;
    renderHistoryStatus();
  }
  fillScreen(view);
}

/** Older history, kept in place on screen while it is prepended above. */
async function loadOlder(view) {
  if (view.loading || !view.hasMore || !view.loaded) return;
  view.loading = true;
  renderHistoryStatus();
  try {
    const page = await api.messages(view.roomId, { before: view.oldestSeq, limit: PAGE_SIZE });
    if (state.view !== view) return;
    const scroller = $('scroller');
    const height = scroller.scrollHeight;
    page.messages.forEach(insertMessage);
    view.hasMore = page.has_more;
    scroller.scrollTop += scroller.scrollHeight - height;
  } catch (err) {
    if (state.view === view) failed(err, 'Could not load older messages');
  } finally {
    view.loading = false;
    renderHistoryStatus();
  }
  fillScreen(view);
}

/** Keep loading older pages while they do not fill the screen (no scrollbar, no scroll event). */
function fillScreen(view) {
  const scroller = $('scroller');
  if (state.view === view && view.hasMore && scroller.scrollHeight <= scroller.clientHeight + 100) {
    loadOlder(view);
  }
}

/** After a reconnect: fetch what the open room got while we were away, merged by id. */
export async function catchUp(view) {
  const after = view.resumeSeq ?? view.newestSeq;
  view.resumeSeq = null;
  if (after == null) return loadLatest(view);
  try {
    const page = await api.messages(view.roomId, { after, limit: CATCH_UP_LIMIT });
    if (state.view !== view) return;
    if (page.has_more) {
      // Too far behind to fill the gap page by page: start again from the newest page.
      state.view = newView(view.roomId);
      $('messages').replaceChildren();
      return loadLatest(state.view);
    }
    const follow = isNearBottom();
    page.messages.forEach(insertMessage);
    if (follow) scrollToBottom();
    markSeenSoon();
  } catch (err) {
    failed(err, 'Could not catch up');
  }
}

/** Show a stored message in the open room once, in sequence order; false if already shown. */
export function insertMessage(message) {
  const view = state.view;
  if (view.ids.has(message.id)) return false;
  view.ids.add(message.id);
  const list = $('messages');
  if (message.creator_id === state.me.id) {
    for (const li of list.querySelectorAll('li.pending')) {
      if (li.dataset.clientId === message.client_message_id) li.remove();
    }
  }
  let before = null;
  for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
    if (node.classList.contains('pending') || Number(node.dataset.seq) > message.seq) before = node;
    else break;
  }
  list.insertBefore(messageItem(message, nameOf(message.creator_id)), before);
  if (view.oldestSeq == null || message.seq < view.oldestSeq) view.oldestSeq = message.seq;
  if (view.newestSeq == null || message.seq > view.newestSeq) {
    view.newestSeq = message.seq;
    view.newestId = message.id;
  }
  renderHistoryStatus();
  return true;
}

/** Messages typed in this room that the server has not echoed yet. */
function showPendingOf(roomId) {
  const list = $('messages');
  for (const message of state.pending.values()) {
    if (message.room_id !== roomId) continue;
    if ([...list.querySelectorAll('li.pending')].some((li) => li.dataset.clientId === message.client_message_id)) continue;
    list.append(messageItem(message, state.me.name, pendingState()));
  }
}

/** 'sending' while connected, 'queued' while offline. */
export function pendingState() {
  return state.socket && state.socket.ready ? 'sending' : 'queued';
}

/** Relabel the pending messages after the connection changed. */
export function refreshPendingLabels() {
  for (const li of $('messages').querySelectorAll('li.pending')) setPending(li, pendingState());
}

function renderHistoryStatus() {
  const view = state.view;
  const status = $('history-status');
  const empty = $('empty-room');
  if (!view) return;
  if (view.loading) status.textContent = 'Loading messages…';
  else if (view.hasMore) status.textContent = 'Scroll up for older messages';
  else if (view.ids.size) status.textContent = 'This is the beginning of the room.';
  else status.textContent = '';
  empty.hidden = !(view.loaded && !view.loading && view.ids.size === 0 && !$('messages').children.length);
  empty.textContent = 'No messages yet. Say hello!';
}

/** True when the message list is scrolled to (nearly) its end. */
export function isNearBottom() {
  const s = $('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

/** Scroll the message list to its end. */
export function scrollToBottom() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
}

let seenTimer = null;
/** Tell the server (soon, once for a burst) how far this user has read the open room. */
export function markSeenSoon() {
  clearTimeout(seenTimer);
  seenTimer = setTimeout(markSeen, 250);
}

/** Send a pending last-seen mark now (before leaving the room). */
export function flushSeen() {
  clearTimeout(seenTimer);
  markSeen();
}

function markSeen() {
  const view = state.view;
  if (!view || !view.newestId || document.visibilityState !== 'visible') return;
  if (state.seenSent === view.newestId) return;
  if (state.socket.send({ type: 'UpdateLastSeen', message_id: view.newestId })) {
    state.seenSent = view.newestId;
  }
}

on('NewMessage', ({ message }) => {
  const mine = message.creator_id === state.me.id;
  if (mine) {
    state.socket.acknowledge(message.client_message_id);
    state.pending.delete(message.client_message_id);
  }
  if (!state.users.has(message.creator_id)) refreshUsersSoon();
  if (state.view && message.room_id === state.view.roomId) {
    const follow = isNearBottom() || mine;
    if (insertMessage(message) && follow) scrollToBottom();
    markSeenSoon();
    return;
  }
  const room = state.rooms.get(message.room_id);
  if (!room) {
    // A room we were just added to (a new direct conversation, say).
    loadRooms().catch((err) => failed(err, 'Could not load rooms'));
  } else if (!mine && !room.unread) {
    room.unread = true;
    renderRooms();
  }
});

/** Wire scrolling up (older pages) and coming back to the tab (last-seen). */
export function wireMessages() {
  $('scroller').addEventListener('scroll', () => {
    if (state.view && $('scroller').scrollTop < 100) loadOlder(state.view);
  });
  document.addEventListener('visibilitychange', markSeenSoon);
}
