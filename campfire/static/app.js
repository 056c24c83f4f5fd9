// Campfire web client, the entry: wires the modules, starts the chat, follows the socket.
// Feature modules register their socket handlers with events.on(type, fn) (see events.js).
import * as api from './api.js';
import { checkAuth, showAuth, signedOut, failed, wireAuth } from './auth.js';
import { restoreSaved, wireComposer } from './composer.js';
import { dispatch, on } from './events.js';
import { wireMentionAutocomplete } from './mention-autocomplete.js';
import { wireMessageActions } from './message-actions.js';
import { catchUp, loadLatest, markSeenSoon, refreshPendingLabels, wireMessages } from './messages.js';
import { followLink, linkedRoomId } from './links.js';
import { wireNotifications } from './notifications.js';
import { loadUsers, renderPresence, renderTyping } from './people.js';
import { loadRooms, openRoom, savedRoomId, setSidebar, wireRooms } from './rooms.js';
import { ChatSocket } from './socket.js';
import { wireSwitcher } from './switcher.js';
import { wireTeam } from './team.js';
import { wireAttachments } from './attachments.js';
import { wireAvatars } from './avatars.js';
import { wireSearch } from './search.js';
import { $, phone, show, showNotice, state } from './state.js';

on('MissedMessagesTruncated', () => {
  // Older missed messages are in the history over HTTP; catchUp fills the open room's gap.
});

on('Error', (event) => {
  if (event.code === 'NOT_IN_ROOM') return; // a typing frame raced a room switch
  if (event.code === 'RATE_LIMITED') {
    setTimeout(() => state.socket.flushOutbox(), 1500);
    showNotice('Slow down a little: sending again in a moment.');
    return;
  }
  if (event.code === 'MESSAGE_CREATION_FAILED' || event.code === 'SERVICE_UNAVAILABLE') {
    // Not stored (the server's database may be restarting): the outbox keeps the message.
    state.socket.retryOutboxLater();
  }
  showNotice(event.message);
});

function onStatus(status, retryMs) {
  const box = $('conn-status');
  box.dataset.state = status;
  box.textContent = { connecting: 'Connecting…', online: 'Connected', offline: 'Offline, reconnecting…' }[status];
  if (status === 'offline') box.dataset.retryMs = String(Math.round(retryMs || 0));
  else delete box.dataset.retryMs;
  $('reconnect-now').hidden = status !== 'offline';
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
  dispatch({ type: 'status', status });
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
  if (view) {
    if (!view.loaded && !view.loading) await loadLatest(view);
    else if (reconnect) await catchUp(view);
    markSeenSoon();
  }
  dispatch({ type: 'ready', reconnect });
}

async function startChat(user) {
  state.me = user;
  $('me-name').textContent = user.name;
  $('me-name').title = user.name;
  show('chat-view');
  await Promise.all([loadUsers(), loadRooms()]);
  state.socket = new ChatSocket({ onEvent: dispatch, onStatus, onReady, checkAuth: async () => {
    const alive = await checkAuth();
    if (!alive) signedOut(true);
    return alive;
  } });
  restoreSaved(); // drafts, and unsent messages: queued before connecting, sent on Ready
  state.socket.connect();
  const first = linkedRoomId() ?? savedRoomId() ?? state.rooms.keys().next().value;
  $('sidebar').inert = phone.matches;
  if (first) await openRoom(first);
  else {
    $('presence').hidden = true;
    $('room-title').textContent = 'Welcome to Campfire';
    $('empty-room').textContent = 'Create a room or pick someone to talk to.';
    $('empty-room').hidden = false;
    if (phone.matches) setSidebar(true);
  }
  await followLink(); // /#room=ID&message=ID: its room is open now; show the message
}

async function boot() {
  wireAuth(startChat);
  wireRooms();
  wireMessages();
  wireComposer();
  wireSwitcher();
  wireNotifications();
  wireMessageActions();
  wireMentionAutocomplete();
  wireTeam();
  wireAttachments(); // files, avatars and search (issue 14)
  wireAvatars();
  wireSearch();
  $('reconnect-now').addEventListener('click', () => state.socket && state.socket.reconnectNow());
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
