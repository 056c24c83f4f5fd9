// The directory changes live: RoomUpdated (a room gained or changed), RoomRemoved (a room
// lost: if open, it closes with a notice and its unsent messages show as not sent, text kept),
// UserUpdated (new people, renames, deactivations: shown everywhere at once). None of them is
// caught up, so after every (re)connect the rooms and people are read again. Also the account:
// its name (title, sign-in page) and whether members may create open rooms.
import * as api from './api.js';
import { failed } from './auth.js';
import { on } from './events.js';
import { refreshNames } from './people.js';
import { el, messageItem } from './render.js';
import { loadRooms, renderRooms, roomName } from './rooms.js';
import { $, save, showNotice, state } from './state.js';

const leaving = new Set(); // rooms this page asked to leave: "You left", not "removed"

/** Remember that this page is leaving a room, so its RoomRemoved reads as a choice. */
export function noteLeaving(roomId) {
  leaving.add(roomId);
}

/** Read the account (public name; settings once signed in) and show it. */
export async function loadAccount() {
  try {
    const { account } = await api.account();
    state.account = account;
    state.accountName = account.name;
  } catch {
    return; // keep what is shown ("Campfire"); the next (re)connect reads it again
  }
  showAccount();
}

/** The account's name in the brand, the title; the "Open" room type only where allowed. */
export function showAccount() {
  const name = state.accountName || 'Campfire';
  for (const node of document.querySelectorAll('.account-name')) node.textContent = name;
  if (!state.me) document.title = name;
  else renderRooms();
  const select = $('new-room-type');
  const allowed = !state.me || state.me.is_admin || state.account?.members_can_create_open_rooms !== false;
  const open = select.querySelector('option[value="open"]');
  const closed = select.querySelector('option[value="closed"]');
  open.hidden = open.disabled = !allowed;
  closed.defaultSelected = !allowed; // what the form resets to after creating a room
  if (!allowed) select.value = 'closed';
  $('open-people-admin').hidden = !state.me?.is_admin;
}

/** The open room's title and composer hint after its name or type changed. */
function renderOpenRoom() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  $('room-title').textContent = roomName(room);
  $('room-title').title = roomName(room);
  const input = $('composer-input');
  if (!input.disabled) input.placeholder = `Message ${room.room_type === 'direct' ? '' : '#'}${roomName(room)}`;
}

on('RoomUpdated', ({ room }) => {
  const known = state.rooms.get(room.id);
  if (known) {
    const seq = Math.max(known.last_message_seq ?? -1, room.last_message_seq ?? -1);
    Object.assign(known, room, { last_message_seq: seq < 0 ? null : seq });
  } else {
    room.unreadCount = room.id === state.currentId ? 0 : room.unread_count ?? 0;
    state.rooms.set(room.id, room);
  }
  renderRooms();
  if (room.id === state.currentId) renderOpenRoom();
});

/** Close the open room that this user lost: a notice, and its unsent messages kept as text. */
function closeLostRoom(room, why) {
  state.currentId = null;
  state.view = null;
  state.present = [];
  state.typing.clear();
  state.typingSentAt = 0;
  $('messages').replaceChildren();
  $('jump-latest').hidden = true;
  $('presence').hidden = true;
  $('typing').textContent = '';
  $('history-status').textContent = '';
  $('room-title').textContent = room ? roomName(room) : 'Campfire';
  $('empty-room').textContent = why;
  $('empty-room').hidden = false;
  $('composer-input').disabled = true;
  $('send').disabled = true;
  $('composer-input').placeholder = 'Pick a room to write in';
  for (const dialog of ['room-settings']) if ($(dialog).open) $(dialog).close();
  renderRooms();
}

/** Messages waiting for the server in a room that is gone: never sent; shown, text kept. */
function failPending(roomId, shown) {
  const lost = [...state.pending.values()].filter((m) => m.room_id === roomId);
  for (const message of lost) {
    state.pending.delete(message.client_message_id);
    state.socket.acknowledge(message.client_message_id); // stop resending into a gone room
    if (!shown) continue;
    const li = messageItem(message, state.me.name);
    li.classList.add('failed');
    li.querySelector('.state').textContent = 'Not sent: you are no longer in this room. Your text is kept here.';
    $('messages').append(li);
  }
  if (lost.length) save('outbox', [...state.pending.values()]);
  return lost;
}

/** Forget a room this user lost; if it was open, close it and say why. */
function loseRoom(roomId) {
  const room = state.rooms.get(roomId);
  state.rooms.delete(roomId);
  const name = room ? roomName(room) : 'this room';
  const chose = leaving.delete(roomId);
  const why = chose ? `You left “${name}”.` : `“${name}” was deleted, or you were removed from it.`;
  const open = state.currentId === roomId;
  if (open) closeLostRoom(room, why);
  const lost = failPending(roomId, open);
  if (open) return showNotice(why);
  renderRooms();
  if (lost.length) {
    const n = lost.length;
    showNotice(`${why} ${n === 1 ? 'A message was' : `${n} messages were`} not sent: “${lost[0].content.slice(0, 80)}”`);
  } else if (room && !chose) {
    showNotice(why);
  }
}

on('RoomRemoved', ({ room_id: roomId }) => loseRoom(roomId));

on('UserUpdated', ({ user }) => {
  const known = state.users.get(user.id);
  state.users.set(user.id, known ? { ...known, ...user } : user);
  if (user.id === state.me.id) {
    Object.assign(state.me, user);
    $('me-name').textContent = user.name;
    $('me-name').title = user.name;
    showAccount();
  }
  refreshNames();
  renderRooms();
  renderOpenRoom();
  markInactiveAuthors($('messages'));
});

/** Mark the messages of deactivated people: their name stays, with "inactive" beside it. */
function markInactiveAuthors(root) {
  for (const author of root.querySelectorAll('.message .author')) {
    const user = state.users.get(author.dataset.userId);
    const inactive = Boolean(user && user.is_active === false);
    const meta = author.parentElement;
    const tag = meta.querySelector('.inactive-tag');
    if (inactive && !tag) author.after(el('span', 'inactive-tag', 'inactive'));
    if (!inactive && tag) tag.remove();
  }
}

/** After every (re)connect: read the rooms, people and account again (these events are not
 * caught up), and close the open room if it went away meanwhile. */
on('ready', async ({ reconnect }) => {
  try {
    // On a reconnect app.js has just read the rooms and people; the first Ready follows a
    // read made before the socket opened, so read again what changed in between.
    if (!reconnect) await Promise.all([loadRooms(), api.users().then(({ users }) => {
      state.users = new Map(users.map((u) => [u.id, u]));
    })]);
    await loadAccount();
  } catch (err) {
    return failed(err, 'Could not refresh');
  }
  refreshNames();
  renderRooms();
  renderOpenRoom();
  markInactiveAuthors($('messages'));
  if (state.currentId && !state.rooms.has(state.currentId)) loseRoom(state.currentId);
});

/** Watch the message list: authors who are deactivated get their "inactive" mark as their
 * messages are shown (pages of history, live messages), whichever module adds them. */
export function wireDirectory() {
  new MutationObserver((records) => {
    if (records.some((r) => r.addedNodes.length)) markInactiveAuthors($('messages'));
  }).observe($('messages'), { childList: true });
}
