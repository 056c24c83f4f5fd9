// The open room's history: loading pages, live messages, catch-up after a reconnect, the
// last-seen mark, and how the list reads: grouped messages, date dividers, "New messages".
import * as api from './api.js';
import { failed } from './auth.js';
import { on } from './events.js';
import { nameOf, refreshUsersSoon } from './people.js';
import { dayKey, dayLabel, el, messageItem, setPending } from './render.js';
import { countUnread, loadRooms } from './rooms.js';
import { $, CATCH_UP_LIMIT, PAGE_SIZE, state } from './state.js';

const GROUP_WITHIN_MS = 5 * 60 * 1000; // one person's messages this close share a header

/**
 * A fresh, empty view of a room's history; `unread` messages by others (from the room list)
 * are marked with a "New messages" divider once the newest page is in.
 */
export function newView(roomId, unread = 0) {
  return { roomId, ids: new Set(), oldestSeq: null, newestSeq: null, newestId: null,
    hasMore: false, loading: false, loaded: false, resumeSeq: null, unread, newFromSeq: null,
    newBelow: 0, hasNewer: false, held: [] };
}

/** The newest page of the open room, merged into what is shown. */
export async function loadLatest(view) {
  view.loading = true;
  renderHistoryStatus();
  showPendingOf(view.roomId); // typed earlier (offline, before a reload): shown whatever happens
  try {
    const page = await api.messages(view.roomId, { limit: PAGE_SIZE });
    if (state.view !== view) return;
    page.messages.forEach(insertMessage);
    if (!view.loaded) {
      view.hasMore = page.has_more;
      view.newFromSeq = firstUnreadSeq(page.messages, view.unread);
    }
    view.loaded = true;
    decorate();
    scrollToBottom();
    markSeenSoon();
  } catch (err) {
    if (state.view !== view) return;
    if (err.status === 0) view.offline = true; // loads when the connection is back (onReady)
    else failed(err, 'Could not load messages');
  } finally {
    view.loading = false;
    renderHistoryStatus();
  }
  fillScreen(view);
}

/** The seq of the oldest of the last `unread` messages by others on this page, or null. */
function firstUnreadSeq(messages, unread) {
  let left = unread;
  let seq = null;
  for (let i = messages.length - 1; i >= 0 && left > 0; i--) {
    if (messages[i].creator_id === state.me.id) continue;
    seq = messages[i].seq;
    left -= 1;
  }
  return seq; // more unread than this page holds: the divider goes at its top
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
    decorate();
    view.hasMore = page.has_more;
    scroller.scrollTop += scroller.scrollHeight - height;
  } catch (err) {
    if (state.view === view && err.status !== 0) failed(err, 'Could not load older messages');
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
  } else if (state.view === view && view.hasNewer && isNearBottom()) {
    loadNewer(view);
  }
}

/** After a reconnect: fetch what the open room got while we were away, merged by id. */
export async function catchUp(view) {
  const after = view.resumeSeq ?? view.newestSeq;
  view.resumeSeq = null;
  if (view.hasNewer) return; // reading old history: paging forward brings what was missed
  if (after == null || !view.loaded) return loadLatest(view);
  try {
    const page = await api.messages(view.roomId, { after, limit: CATCH_UP_LIMIT });
    if (state.view !== view) return;
    if (page.has_more) {
      // Too far behind to fill the gap page by page: start again from the newest page.
      return reloadView();
    }
    const follow = isNearBottom();
    const added = page.messages.filter(insertMessage);
    decorate();
    if (follow) scrollToBottom();
    else noteNewBelow(added.filter((m) => m.creator_id !== state.me.id).length);
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
    if (!node.classList.contains('message')) continue; // a divider: decorate() redraws them
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

/**
 * Redraw what sits between messages: a date divider where the day changes, the "New
 * messages" divider where the user left off, and grouping (one header for a person's
 * consecutive messages within a few minutes).
 */
export function decorate() {
  const list = $('messages');
  for (const divider of list.querySelectorAll('li.divider')) divider.remove();
  const view = state.view;
  let previous = null;
  let newShown = false;
  for (const li of [...list.children]) {
    const at = li.querySelector('time')?.dateTime;
    let breaks = false;
    if (at && (!previous || dayKey(at) !== dayKey(previous.at))) {
      list.insertBefore(divider('day-divider', dayLabel(at)), li);
      breaks = true;
    }
    if (view && view.newFromSeq != null && !newShown && !li.classList.contains('pending')
      && Number(li.dataset.seq) >= view.newFromSeq) {
      list.insertBefore(divider('new-divider', 'New messages'), li);
      newShown = true;
      breaks = true;
    }
    const grouped = !breaks && previous && previous.userId === li.dataset.userId
      && !li.classList.contains('pending') && !li.classList.contains('highlight')
      && new Date(at) - new Date(previous.at) < GROUP_WITHIN_MS;
    li.classList.toggle('grouped', Boolean(grouped));
    previous = { at, userId: li.dataset.userId };
  }
}

function divider(className, text) {
  const li = el('li', `divider ${className}`);
  li.setAttribute('role', 'separator');
  li.append(el('span', null, text));
  return li;
}

/** Messages typed in this room that the server has not echoed yet. */
function showPendingOf(roomId) {
  const list = $('messages');
  for (const message of state.pending.values()) {
    if (message.room_id !== roomId) continue;
    if ([...list.querySelectorAll('li.pending')].some((li) => li.dataset.clientId === message.client_message_id)) continue;
    list.append(messageItem(message, state.me.name, pendingState()));
  }
  decorate();
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
  else if (view.offline && !view.loaded) status.textContent = 'Offline: the messages load when the connection is back.';
  else if (view.hasMore) status.textContent = 'Scroll up for older messages';
  else if (view.ids.size) status.textContent = 'This is the beginning of the room.';
  else status.textContent = '';
  empty.hidden = !(view.loaded && !view.loading && view.ids.size === 0 && !$('messages').children.length);
  empty.textContent = 'No messages yet. Say hello!';
}

/** The empty page of a conversation that starts with its first message. */
export function showDraftDirect(user) {
  $('history-status').textContent = '';
  $('empty-room').textContent = `This is the start of your conversation with ${user.name}.`;
  $('empty-room').hidden = false;
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
  hideNewBelow();
}

/** New messages arrived below while the reader is scrolled up: say so, with a way down. */
function noteNewBelow(count) {
  const view = state.view;
  if (!view || !count) return;
  view.newBelow += count;
  const bar = $('jump-latest');
  bar.textContent = `${view.newBelow} new message${view.newBelow === 1 ? '' : 's'} - jump to latest`;
  bar.hidden = false;
}

function hideNewBelow() {
  if (state.view) state.view.newBelow = 0;
  $('jump-latest').hidden = true;
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
  if (!view || !view.newestId || view.hasNewer || document.visibilityState !== 'visible') return;
  if (state.seenSent === view.newestId) return;
  if (state.socket.send({ type: 'UpdateLastSeen', message_id: view.newestId })) {
    state.seenSent = view.newestId;
  }
}

on('NewMessage', ({ message }) => {
  const mine = message.creator_id === state.me.id;
  if (!state.users.has(message.creator_id)) refreshUsersSoon();
  if (state.view && message.room_id === state.view.roomId && state.view.hasNewer) {
    return holdBack(message); // beyond the older stretch of history being read
  }
  if (state.view && message.room_id === state.view.roomId) {
    const follow = isNearBottom() || mine;
    if (insertMessage(message)) {
      decorate();
      if (follow) scrollToBottom();
      else noteNewBelow(1);
    }
    markSeenSoon();
    return;
  }
  if (!state.rooms.has(message.room_id)) {
    // A room we were just added to (a new direct conversation, say): its count comes with it.
    loadRooms().catch((err) => failed(err, 'Could not load rooms'));
  } else if (!mine) {
    countUnread(message);
  }
});

/** Wire scrolling (older pages up top, the new-messages bar at the bottom) and tab focus. */
export function wireMessages() {
  $('scroller').addEventListener('scroll', () => {
    if (state.view && $('scroller').scrollTop < 100) loadOlder(state.view);
    if (state.view && state.view.hasNewer && isNearBottom()) loadNewer(state.view);
    else if (isNearBottom()) hideNewBelow();
  });
  $('jump-latest').addEventListener('click', () => {
    if (state.view && state.view.hasNewer) reloadView(); // reading old history: go to the newest
    else scrollToBottom();
    $('composer-input').focus();
  });
  document.addEventListener('visibilitychange', markSeenSoon);
}

// Reading old history (a search result): the page around one message, then paging both ways.
// While newer messages exist beyond what is shown (`view.hasNewer`), live ones are held back
// instead of shown after a gap; paging forward reaches them, and at the end the room is live.

const HELD_MAX = 200; // live messages kept while reading old history (the newest ones)

/** Show the open room afresh: at message `seq`, or (null) its newest page. */
export function reloadView(seq = null) {
  const view = newView(state.currentId);
  state.view = view;
  $('messages').replaceChildren();
  hideNewBelow();
  return seq == null ? loadLatest(view) : loadAround(view, seq);
}

/** The page of history around message `seq`, that message highlighted in the middle of the view. */
export async function loadAround(view, seq) {
  view.loading = true;
  renderHistoryStatus();
  try {
    const page = await api.messagesAround(view.roomId, seq, PAGE_SIZE);
    if (state.view !== view) return;
    page.messages.forEach(insertMessage);
    view.hasMore = page.has_more;
    view.hasNewer = page.has_more_after;
    view.loaded = true;
    if (!view.hasNewer) goLive(view);
    else {
      $('jump-latest').textContent = 'Jump to the latest messages';
      $('jump-latest').hidden = false;
    }
    const found = markFound(seq);
    decorate(); // the found message shows its author and time, even within a group
    if (found) {
      found.scrollIntoView({ block: 'center' });
      found.focus({ preventScroll: true });
    }
  } catch (err) {
    if (state.view === view) failed(err, 'Could not load that part of the history');
  } finally {
    view.loading = false;
    renderHistoryStatus();
  }
  fillScreen(view);
}

/** Mark the message looked for (focusable, for keyboard and screen-reader users); null if absent. */
function markFound(seq) {
  const li = $('messages').querySelector(`li.message[data-seq="${Number(seq)}"]`);
  if (!li) return null;
  li.classList.add('highlight');
  li.tabIndex = -1;
  return li;
}

/** Newer history, appended below (the view stays where it is). */
async function loadNewer(view) {
  if (view.loading || !view.hasNewer || !view.loaded) return;
  view.loading = true;
  try {
    const page = await api.messages(view.roomId, { after: view.newestSeq, limit: PAGE_SIZE });
    if (state.view !== view) return;
    page.messages.forEach(insertMessage);
    view.hasNewer = page.has_more;
    if (!view.hasNewer) goLive(view);
    decorate();
  } catch (err) {
    if (state.view === view && err.status !== 0) failed(err, 'Could not load newer messages');
  } finally {
    view.loading = false;
    renderHistoryStatus();
  }
  fillScreen(view);
}

/** The newest message is shown: add what arrived meanwhile, and read live from now on. */
function goLive(view) {
  view.held.forEach(insertMessage); // by id, in seq order: the last page and these overlap
  view.held = [];
  showPendingOf(view.roomId);
  hideNewBelow();
  markSeenSoon();
}

/** A live message while reading old history: keep it for later, and say it came. */
function holdBack(message) {
  const view = state.view;
  if (message.creator_id === state.me.id) {
    reloadView(); // one's own message: show it where it belongs, at the newest end
    return;
  }
  view.held.push(message);
  if (view.held.length > HELD_MAX) view.held.shift(); // older ones come with paging forward
  noteNewBelow(1);
}
