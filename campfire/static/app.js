// Campfire web client: sign-in / first-run setup, rooms, live chat over /ws.
import * as api from './api.js';
import { ChatSocket } from './socket.js';
import { el, initials, messageItem, setPending, typingText } from './render.js';

const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 50;
const CATCH_UP_LIMIT = 200;
const TYPING_REPEAT_MS = 3000;
const MAX_CONTENT_CHARS = 10000;
const ROOM_KEY = 'campfire.room';
const ROOM_ICONS = { open: '#', direct: '@' };
const phone = window.matchMedia('(max-width: 720px)');

const state = {
  me: null,
  users: new Map(), // id -> user
  rooms: new Map(), // id -> room from /api/rooms, plus `unread`
  currentId: null,
  view: null, // the open room's loaded history (see newView)
  pending: new Map(), // client_message_id -> local message not yet echoed by the server
  present: [],
  typing: new Set(),
  typingSentAt: 0, // when StartTyping was last sent; 0 while not typing
  socket: null,
  everReady: false,
  seenSent: null,
};

/** A UUID v4 (crypto.randomUUID needs a secure context; plain-HTTP deployments lack one). */
function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function show(view) {
  for (const id of ['loading', 'auth-view', 'chat-view']) $(id).hidden = id !== view;
}

function showNotice(text) {
  const notice = $('notice');
  notice.textContent = text;
  notice.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => { notice.hidden = true; }, 6000);
}

/** The session is gone: back to the sign-in page. */
function signedOut() {
  if (state.socket) state.socket.stop();
  location.assign('/');
}

/** Report an API failure; a 401 means the session ended. */
function failed(err, what) {
  if (err.status === 401) return signedOut();
  showNotice(`${what}: ${err.message}`);
}

// ---- Sign in and first run -------------------------------------------------------------

let authMode = 'login';

async function showAuth() {
  const { needs_setup: needsSetup } = await api.getSetup();
  authMode = needsSetup ? 'setup' : 'login';
  $('auth-title').textContent = needsSetup ? 'Create the administrator account' : 'Sign in';
  $('auth-intro').textContent = needsSetup
    ? 'This Campfire is new. The first account runs the place: pick your name, email and a password (8+ characters).'
    : 'Welcome back. Sign in to join the conversation.';
  $('name-field').hidden = !needsSetup;
  $('auth-name').required = needsSetup;
  $('auth-password').autocomplete = needsSetup ? 'new-password' : 'current-password';
  $('auth-submit').textContent = needsSetup ? 'Create account' : 'Sign in';
  $('auth-error').textContent = '';
  show('auth-view');
  (needsSetup ? $('auth-name') : $('auth-email')).focus();
}

async function submitAuth(event) {
  event.preventDefault();
  const button = $('auth-submit');
  const email = $('auth-email').value.trim();
  const password = $('auth-password').value;
  $('auth-error').textContent = '';
  button.disabled = true;
  try {
    const data = authMode === 'setup'
      ? await api.setup(email, $('auth-name').value.trim(), password)
      : await api.login(email, password);
    $('auth-password').value = '';
    await startChat(data.user);
  } catch (err) {
    $('auth-error').textContent = err.message;
    if (err.code === 'SETUP_ALREADY_DONE') await showAuth();
  } finally {
    button.disabled = false;
  }
}

// ---- People and rooms ------------------------------------------------------------------

function nameOf(userId) {
  const user = state.users.get(userId);
  return user ? user.name : 'Unknown user';
}

async function loadUsers() {
  const { users } = await api.users();
  state.users = new Map(users.map((u) => [u.id, u]));
  renderUsers();
  for (const li of $('messages').querySelectorAll('li.message')) {
    const name = nameOf(li.dataset.userId);
    li.querySelector('.author').textContent = name;
    li.querySelector('.avatar').textContent = initials(name);
  }
  renderPresence();
  renderTyping();
}

let usersRefresh = null;
/** Someone we do not know yet wrote: reload the user list, once for a burst. */
function refreshUsersSoon() {
  usersRefresh ??= setTimeout(() => {
    usersRefresh = null;
    loadUsers().catch((err) => failed(err, 'Could not load people'));
  }, 300);
}

function renderUsers() {
  const list = $('user-list');
  list.replaceChildren();
  const others = [...state.users.values()].filter((u) => u.id !== state.me.id);
  others.sort((a, b) => a.name.localeCompare(b.name));
  for (const user of others) {
    const button = el('button');
    button.type = 'button';
    button.dataset.userId = user.id;
    button.setAttribute('aria-label', `Message ${user.name}`);
    const icon = el('span', 'room-icon', '@');
    icon.setAttribute('aria-hidden', 'true');
    button.append(icon, el('span', 'room-name', user.name));
    button.addEventListener('click', () => startDirect(user.id));
    const li = el('li');
    li.append(button);
    list.append(li);
  }
  if (!others.length) list.append(el('li', 'signed-in', 'Nobody else yet.'));
}

async function loadRooms() {
  const { rooms } = await api.rooms();
  state.rooms = new Map(rooms.map((room) => {
    const last = room.last_message_seq;
    room.unread = room.id !== state.currentId && last != null && last > (room.last_seen_seq ?? 0);
    return [room.id, room];
  }));
  renderRooms();
}

/** A room's name as this user sees it: a direct room is named after the others in it. */
function roomName(room) {
  if (room.room_type !== 'direct') return room.name;
  const names = room.name.split(', ');
  const mine = names.indexOf(state.me.name);
  if (mine >= 0 && names.length > 1) names.splice(mine, 1);
  return names.join(', ');
}

function renderRooms() {
  const list = $('room-list');
  list.replaceChildren();
  for (const room of state.rooms.values()) {
    const button = el('button');
    button.type = 'button';
    button.dataset.roomId = room.id;
    if (room.id === state.currentId) button.setAttribute('aria-current', 'page');
    const icon = el('span', 'room-icon', ROOM_ICONS[room.room_type]);
    icon.setAttribute('aria-hidden', 'true');
    if (room.room_type === 'closed') {
      const lock = el('img');
      lock.src = '/static/lock.svg';
      lock.alt = '';
      icon.append(lock);
    }
    button.append(icon, el('span', 'room-name', roomName(room)));
    if (room.unread) {
      const dot = el('span', 'unread-dot');
      dot.setAttribute('aria-hidden', 'true');
      button.append(dot, el('span', 'visually-hidden', ', unread messages'));
    }
    button.addEventListener('click', () => openRoom(room.id));
    const li = el('li', room.unread ? 'unread' : '');
    li.append(button);
    list.append(li);
  }
  if (!state.rooms.size) list.append(el('li', 'signed-in', 'No rooms yet: create one below.'));
}

async function createRoom(event) {
  event.preventDefault();
  const input = $('new-room-name');
  const name = input.value.trim();
  if (!name) return input.focus();
  try {
    const { room } = await api.createRoom(name, $('new-room-type').value);
    input.value = '';
    await loadRooms();
    await openRoom(room.id);
  } catch (err) {
    failed(err, 'Could not create the room');
  }
}

async function startDirect(userId) {
  try {
    const { room } = await api.directRoom([userId]);
    await loadRooms();
    await openRoom(room.id);
  } catch (err) {
    failed(err, 'Could not start the conversation');
  }
}

// ---- The open room ---------------------------------------------------------------------

function newView(roomId) {
  return { roomId, ids: new Set(), oldestSeq: null, newestSeq: null, newestId: null,
    hasMore: false, loading: false, loaded: false, resumeSeq: null };
}

async function openRoom(roomId) {
  closeSidebar();
  if (state.currentId === roomId && state.view) return;
  const room = state.rooms.get(roomId);
  if (!room) return;
  stopTyping();
  clearTimeout(seenTimer);
  markSeen(); // the room being left: do not lose a pending mark
  if (state.currentId) state.socket.send({ type: 'LeaveRoom', room_id: state.currentId });
  state.currentId = roomId;
  localStorage.setItem(ROOM_KEY, roomId);
  room.unread = false;
  renderRooms();
  $('room-title').textContent = roomName(room);
  document.title = `${roomName(room)} · Campfire`;
  $('messages').replaceChildren();
  state.present = [];
  state.typing.clear();
  renderPresence();
  renderTyping();
  $('composer-input').disabled = false;
  $('send').disabled = false;
  $('composer-input').placeholder = `Message ${room.room_type === 'direct' ? '' : '#'}${roomName(room)}`;
  state.view = newView(roomId);
  state.socket.send({ type: 'JoinRoom', room_id: roomId });
  if (!phone.matches) $('composer-input').focus();
  await loadLatest(state.view);
}

/** The newest page of the open room, merged into what is shown. */
async function loadLatest(view) {
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
async function catchUp(view) {
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
function insertMessage(message) {
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

function pendingState() {
  return state.socket && state.socket.ready ? 'sending' : 'queued';
}

function refreshPendingLabels() {
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

function isNearBottom() {
  const s = $('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
}

let seenTimer = null;
/** Tell the server (soon, once for a burst) how far this user has read the open room. */
function markSeenSoon() {
  clearTimeout(seenTimer);
  seenTimer = setTimeout(markSeen, 250);
}

function markSeen() {
  const view = state.view;
  if (!view || !view.newestId || document.visibilityState !== 'visible') return;
  if (state.seenSent === view.newestId) return;
  if (state.socket.send({ type: 'UpdateLastSeen', message_id: view.newestId })) {
    state.seenSent = view.newestId;
  }
}

// ---- Presence and typing ---------------------------------------------------------------

function renderPresence() {
  const box = $('presence');
  box.replaceChildren();
  if (!state.currentId) return;
  if (!state.socket || !state.socket.ready) {
    box.append(el('span', null, 'Presence unavailable while offline'));
    return;
  }
  box.append(el('span', null, 'Here now:'));
  const names = state.present.map(nameOf).sort((a, b) => a.localeCompare(b));
  for (const name of names) box.append(el('span', 'person', name));
}

function renderTyping() {
  const names = [...state.typing].map(nameOf).sort((a, b) => a.localeCompare(b));
  $('typing').textContent = typingText(names);
}

function onComposerInput() {
  autosize();
  const input = $('composer-input');
  if (!input.value.trim()) return stopTyping();
  if (Date.now() - state.typingSentAt < TYPING_REPEAT_MS || !state.currentId) return;
  if (state.socket.send({ type: 'StartTyping', room_id: state.currentId })) {
    state.typingSentAt = Date.now();
  }
}

function stopTyping() {
  if (state.typingSentAt && state.currentId) {
    state.socket.send({ type: 'StopTyping', room_id: state.currentId });
  }
  state.typingSentAt = 0;
}

// ---- Composer --------------------------------------------------------------------------

function autosize() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

function onComposerKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendComposer();
  }
}

function sendComposer(event) {
  if (event) event.preventDefault();
  const input = $('composer-input');
  const content = input.value;
  const roomId = state.currentId;
  if (!roomId || !content.trim()) return;
  if (content.length > MAX_CONTENT_CHARS) {
    showNotice(`A message can be at most ${MAX_CONTENT_CHARS} characters.`);
    return;
  }
  stopTyping();
  const message = {
    room_id: roomId, content, client_message_id: uuid4(),
    creator_id: state.me.id, created_at: new Date().toISOString(),
  };
  state.pending.set(message.client_message_id, message);
  $('messages').append(messageItem(message, state.me.name, pendingState()));
  $('empty-room').hidden = true;
  scrollToBottom();
  state.socket.sendMessage({
    type: 'CreateMessage', room_id: roomId, content, client_message_id: message.client_message_id,
  });
  input.value = '';
  autosize();
}

// ---- The socket's events ---------------------------------------------------------------

function onNewMessage(message) {
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
}

function onEvent(event) {
  const here = event.room_id === state.currentId;
  switch (event.type) {
    case 'NewMessage':
      onNewMessage(event.message);
      break;
    case 'PresenceUpdate':
      if (here) {
        state.present = event.online_users;
        if (state.present.some((id) => !state.users.has(id))) refreshUsersSoon();
        renderPresence();
      }
      break;
    case 'TypingStart':
      if (here && event.user_id !== state.me.id) {
        state.typing.add(event.user_id);
        renderTyping();
      }
      break;
    case 'TypingStop':
      if (here) {
        state.typing.delete(event.user_id);
        renderTyping();
      }
      break;
    case 'MissedMessagesTruncated':
      // Older missed messages are in the history over HTTP; catchUp fills the open room's gap.
      break;
    case 'Error':
      onServerError(event);
      break;
    default:
      break; // UserJoined/UserLeft: the PresenceUpdate that follows carries the full list.
  }
}

function onServerError(event) {
  if (event.code === 'NOT_IN_ROOM') return; // a typing frame raced a room switch
  if (event.code === 'RATE_LIMITED') {
    setTimeout(() => state.socket.flushOutbox(), 1500);
    showNotice('Slow down a little: sending again in a moment.');
    return;
  }
  showNotice(event.message);
}

function onStatus(status) {
  const box = $('conn-status');
  box.dataset.state = status;
  box.textContent = { connecting: 'Connecting…', online: 'Connected', offline: 'Offline, reconnecting…' }[status];
  if (status === 'offline') {
    const view = state.view;
    if (view && view.resumeSeq == null) view.resumeSeq = view.newestSeq;
    state.typing.clear();
    state.typingSentAt = 0;
    state.seenSent = null;
    renderTyping();
  }
  renderPresence();
  refreshPendingLabels();
}

async function onReady() {
  const reconnect = state.everReady;
  state.everReady = true;
  if (state.currentId) state.socket.send({ type: 'JoinRoom', room_id: state.currentId });
  refreshPendingLabels();
  if (reconnect) {
    try {
      await Promise.all([loadRooms(), loadUsers()]);
    } catch (err) {
      failed(err, 'Could not refresh');
    }
  }
  const view = state.view;
  if (!view) return;
  if (!view.loaded && !view.loading) await loadLatest(view);
  else if (reconnect) await catchUp(view);
  markSeenSoon();
}

async function checkAuth() {
  try {
    await api.me();
    return true;
  } catch (err) {
    if (err.status === 401) return false;
    throw err;
  }
}

// ---- Layout ----------------------------------------------------------------------------

function setSidebar(open) {
  $('chat-view').classList.toggle('sidebar-open', open);
  $('menu-toggle').setAttribute('aria-expanded', String(open));
  $('menu-toggle').setAttribute('aria-label', open ? 'Hide rooms' : 'Show rooms');
  $('scrim').hidden = !open;
  $('sidebar').inert = phone.matches && !open;
  if (open) ($('room-list').querySelector('button') || $('logout')).focus();
}

function closeSidebar() {
  if ($('chat-view').classList.contains('sidebar-open')) {
    setSidebar(false);
    $('menu-toggle').focus();
  } else {
    $('sidebar').inert = phone.matches;
  }
}

// ---- Start -----------------------------------------------------------------------------

async function startChat(user) {
  state.me = user;
  $('me-name').textContent = user.name;
  show('chat-view');
  await Promise.all([loadUsers(), loadRooms()]);
  state.socket = new ChatSocket({ onEvent, onStatus, onReady, checkAuth: async () => {
    const alive = await checkAuth();
    if (!alive) signedOut();
    return alive;
  } });
  state.socket.connect();
  const saved = localStorage.getItem(ROOM_KEY);
  const first = state.rooms.has(saved) ? saved : state.rooms.keys().next().value;
  $('sidebar').inert = phone.matches;
  if (first) await openRoom(first);
  else {
    $('room-title').textContent = 'Welcome to Campfire';
    $('empty-room').textContent = 'Create a room or pick someone to talk to.';
    $('empty-room').hidden = false;
    if (phone.matches) setSidebar(true);
  }
}

async function logout() {
  try {
    await api.logout();
  } catch {
    // Signed out already or the server is away: either way, back to the sign-in page.
  }
  signedOut();
}

function wire() {
  $('auth-form').addEventListener('submit', submitAuth);
  $('new-room-form').addEventListener('submit', createRoom);
  $('logout').addEventListener('click', logout);
  $('composer').addEventListener('submit', sendComposer);
  const input = $('composer-input');
  input.addEventListener('keydown', onComposerKey);
  input.addEventListener('input', onComposerInput);
  input.addEventListener('blur', stopTyping);
  $('scroller').addEventListener('scroll', () => {
    if (state.view && $('scroller').scrollTop < 100) loadOlder(state.view);
  });
  $('menu-toggle').addEventListener('click', () => {
    setSidebar(!$('chat-view').classList.contains('sidebar-open'));
  });
  $('scrim').addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeSidebar();
  });
  phone.addEventListener('change', () => setSidebar(false));
  document.addEventListener('visibilitychange', markSeenSoon);
}

async function boot() {
  wire();
  for (let attempt = 0; ; attempt++) {
    try {
      const { user } = await api.me();
      return await startChat(user);
    } catch (err) {
      if (err.status === 401) return await showAuth();
      $('loading').textContent = 'Cannot reach the Campfire server. Trying again…';
      await new Promise((resolve) => setTimeout(resolve, Math.min(10000, 1000 * 2 ** attempt)));
    }
  }
}

boot();
