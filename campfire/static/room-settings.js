// Room settings (rename, open <-> closed, members, leave, delete), the involvement bell of the
// open room, and starting a direct conversation with several people.
import * as api from './api.js';
import { failed } from './auth.js';
import { noteLeaving } from './directory.js';
import { on } from './events.js';
import { el } from './render.js';
import { openDirect, openRoom, renderRooms, roomName } from './rooms.js';
import { $, state } from './state.js';
import { confirmAction, openPanel, otherActivePeople, wirePicker } from './ui.js';

const INVOLVEMENT = {
  everything: { label: 'Everything', short: 'All', icon: 'bell.svg', hint: 'every message' },
  mentions: { label: 'Mentions', short: 'Mentions', icon: 'bell.svg', hint: 'only when someone @mentions you' },
  nothing: { label: 'Nothing', short: 'Off', icon: 'bell-off.svg', hint: 'never; the room stays in your list' },
  invisible: { label: 'Hide this room', short: 'Hidden', icon: 'eye-off.svg', hint: 'never, and hide it from your list (Ctrl+K finds it)' },
};
const DIRECT_CHOICES = ['everything', 'nothing', 'invisible'];
const ROOM_CHOICES = ['everything', 'mentions', 'nothing', 'invisible'];

let members = []; // the members shown in the open settings panel
let chosen = []; // people picked for a new conversation

/** Whether this user may rename, switch, add and remove members of, and delete a room. */
export function canManage(room) {
  return Boolean(room && (state.me.is_admin || room.creator_id === state.me.id));
}

/** The open room's header controls: the bell (involvement) and the settings button. */
function renderControls() {
  const room = state.rooms.get(state.currentId);
  $('involvement-button').hidden = !room;
  $('room-settings-button').hidden = !room;
  if (!room) return closeMenu();
  const involvement = room.involvement || (room.room_type === 'direct' ? 'everything' : 'mentions');
  const info = INVOLVEMENT[involvement];
  $('involvement-button').querySelector('img').src = `/static/${info.icon}`;
  $('involvement-label').textContent = info.short;
  $('involvement-button').setAttribute('aria-label', `Notifications: ${info.label}`);
  $('involvement-button').title = `Notify me about: ${info.hint}`;
  $('room-settings-button').setAttribute('aria-label', `${room.room_type === 'direct' ? 'Conversation' : 'Room'} settings`);
}

/** The bell's menu of choices, the current one checked. */
function openMenu() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  const box = $('involvement-options');
  box.replaceChildren();
  const current = room.involvement || (room.room_type === 'direct' ? 'everything' : 'mentions');
  for (const value of room.room_type === 'direct' ? DIRECT_CHOICES : ROOM_CHOICES) {
    const info = INVOLVEMENT[value];
    const input = el('input');
    input.type = 'radio';
    input.name = 'involvement';
    input.value = value;
    input.checked = value === current;
    input.addEventListener('change', () => chooseInvolvement(room.id, value));
    const label = el('label', 'involvement-choice');
    const text = el('span');
    text.append(el('strong', null, value === 'invisible' && room.room_type === 'direct' ? 'Hide this conversation' : info.label),
      el('span', 'muted', ` – ${info.hint}`));
    label.append(input, text);
    box.append(label);
  }
  $('involvement-menu').hidden = false;
  $('involvement-button').setAttribute('aria-expanded', 'true');
  box.querySelector('input:checked')?.focus();
}

function closeMenu() {
  $('involvement-menu').hidden = true;
  $('involvement-button').setAttribute('aria-expanded', 'false');
}

async function chooseInvolvement(roomId, involvement) {
  try {
    const { room } = await api.setInvolvement(roomId, involvement);
    const known = state.rooms.get(roomId);
    if (known) known.involvement = room.involvement; // RoomUpdated follows with the same
    renderControls();
    renderRooms();
  } catch (err) {
    failed(err, 'Could not change notifications');
  }
}

// --- the settings panel --------------------------------------------------------------------

/** Open the settings of the open room. */
async function openSettings() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  const manager = canManage(room);
  const direct = room.room_type === 'direct';
  openPanel('room-settings');
  $('room-manage-form').addEventListener('submit', saveSettings);
  $('room-leave').addEventListener('click', leaveRoom);
  $('room-delete').addEventListener('click', deleteRoom);
  wirePicker($('room-member-search'), $('room-member-matches'),
    () => otherActivePeople().filter((u) => !members.some((m) => m.id === u.id)), addMember);
  $('room-settings-title').textContent = `${direct ? 'Conversation' : 'Room'} settings: ${roomName(room)}`;
  $('room-manage-form').hidden = !manager || direct;
  $('room-name-input').value = room.name;
  for (const radio of document.getElementsByName('room-type')) radio.checked = radio.value === room.room_type;
  $('room-manage-error').textContent = '';
  $('room-settings-status').textContent = '';
  $('room-add-member').hidden = !manager || direct || room.room_type === 'open';
  $('room-leave').hidden = direct;
  $('room-delete').hidden = !manager;
  $('room-delete').textContent = direct ? 'Delete conversation…' : 'Delete room…';
  members = [];
  renderMembers(room);
  await loadMembers(room);
}

async function loadMembers(room) {
  try {
    ({ members } = await api.members(room.id));
  } catch (err) {
    return failed(err, 'Could not load the members');
  }
  renderMembers(room);
}

function renderMembers(room) {
  if (!$('room-settings').open) return; // closed while the members were loading
  const list = $('room-members');
  list.replaceChildren();
  const removable = canManage(room) && room.room_type === 'closed';
  for (const member of members) {
    const li = el('li', member.is_active === false ? 'inactive' : '');
    const name = el('span', 'member-name', member.name);
    name.title = member.name;
    li.append(name);
    if (member.id === state.me.id) li.append(el('span', 'tag', 'you'));
    if (member.is_active === false) li.append(el('span', 'tag', 'inactive'));
    if (removable && member.id !== state.me.id) {
      const button = el('button', 'small-button', 'Remove');
      button.type = 'button';
      button.setAttribute('aria-label', `Remove ${member.name}`);
      button.addEventListener('click', () => removeMember(room, member));
      li.append(button);
    }
    list.append(li);
  }
  if (!members.length) list.append(el('li', 'muted', 'Loading members…'));
  $('room-members-heading').textContent = `Members (${members.length})`;
}

async function saveSettings(event) {
  event.preventDefault();
  const room = state.rooms.get(state.currentId);
  const name = $('room-name-input').value.trim();
  const type = [...document.getElementsByName('room-type')].find((r) => r.checked)?.value;
  const changes = {};
  if (name && name !== room.name) changes.name = name;
  if (type && type !== room.room_type) changes.room_type = type;
  $('room-manage-error').textContent = name ? '' : 'Please enter a name for the room.';
  if (!name || !Object.keys(changes).length) return;
  try {
    const { room: changed } = await api.updateRoom(room.id, changes);
    Object.assign(room, changed); // RoomUpdated follows with the same
    renderRooms();
    $('room-title').textContent = roomName(room);
    if (!$('room-settings').open) return;
    $('room-settings-title').textContent = `Room settings: ${roomName(room)}`;
    $('room-settings-status').textContent = 'Saved.';
    $('room-add-member').hidden = room.room_type === 'open';
    await loadMembers(room);
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    $('room-manage-error').textContent = err.code === 'ROOM_NAME_TAKEN'
      ? `There is already a room called “${name}”. Please pick another name.` : err.message;
  }
}

async function addMember(user) {
  const room = state.rooms.get(state.currentId);
  try {
    await api.addMember(room.id, user.id);
    if (!$('room-settings').open) return;
    $('room-settings-status').textContent = `${user.name} was added.`;
    await loadMembers(room);
  } catch (err) {
    failed(err, `Could not add ${user.name}`);
  }
}

async function removeMember(room, member) {
  try {
    await api.removeMember(room.id, member.id);
    if (!$('room-settings').open) return;
    $('room-settings-status').textContent = `${member.name} was removed.`;
    await loadMembers(room);
  } catch (err) {
    failed(err, `Could not remove ${member.name}`);
  }
}

async function leaveRoom() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  const closedNote = room.room_type === 'closed' ? ' You need to be added again to come back.' : '';
  if (!(await confirmAction(`Leave “${roomName(room)}”?${closedNote}`, 'Leave room'))) return;
  noteLeaving(room.id);
  try {
    await api.removeMember(room.id, 'me'); // RoomRemoved closes it on every open page
    $('room-settings').close();
  } catch (err) {
    failed(err, 'Could not leave the room');
  }
}

async function deleteRoom() {
  const room = state.rooms.get(state.currentId);
  if (!room) return;
  const what = room.room_type === 'direct' ? 'this conversation' : `the room “${roomName(room)}”`;
  if (!(await confirmAction(`Delete ${what} and all its messages for everyone? This cannot be undone.`, 'Delete for good'))) return;
  try {
    await api.deleteRoom(room.id); // RoomRemoved closes it on every open page
    $('room-settings').close();
  } catch (err) {
    failed(err, 'Could not delete the room');
  }
}

// --- a new conversation with several people -------------------------------------------------

function renderChosen() {
  const list = $('direct-chosen');
  list.replaceChildren();
  for (const user of chosen) {
    const li = el('li', 'chip');
    li.append(el('span', null, user.name));
    const button = el('button', 'chip-remove', '×');
    button.type = 'button';
    button.setAttribute('aria-label', `Remove ${user.name}`);
    button.addEventListener('click', () => {
      chosen = chosen.filter((u) => u !== user);
      renderChosen();
      $('direct-search').focus();
    });
    li.append(button);
    list.append(li);
  }
  $('direct-start').disabled = !chosen.length;
}

async function startDirect() {
  $('new-direct-error').textContent = '';
  if (chosen.length === 1) {
    $('new-direct-dialog').close();
    return openDirect(chosen[0]); // created by the first message, as a click on a person
  }
  try {
    const { room } = await api.directRoom(chosen.map((u) => u.id));
    if (!state.rooms.has(room.id)) {
      room.unreadCount = 0;
      state.rooms.set(room.id, room);
    }
    $('new-direct-dialog').close();
    await openRoom(room.id);
  } catch (err) {
    if (err.status === 401) return failed(err, '');
    $('new-direct-error').textContent = err.message;
  }
}

/** The panel that starts a conversation with one or several people. */
function openNewDirect() {
  chosen = [];
  openPanel('new-direct-dialog');
  wirePicker($('direct-search'), $('direct-matches'),
    () => otherActivePeople().filter((u) => !chosen.includes(u)), (user) => {
      chosen.push(user);
      renderChosen();
    });
  $('direct-start').addEventListener('click', startDirect);
  renderChosen();
  $('direct-search').focus();
}

/** Wire the bell, and the buttons that open the settings and new-conversation panels. */
export function wireRoomSettings() {
  $('involvement-button').addEventListener('click', () => {
    if ($('involvement-menu').hidden) openMenu();
    else closeMenu();
  });
  $('involvement-menu').addEventListener('keydown', (event) => {
    if (event.key === 'Escape' || event.key === 'Enter') {
      event.preventDefault();
      closeMenu();
      $('involvement-button').focus();
    }
  });
  document.addEventListener('click', (event) => {
    if (!$('involvement-menu').hidden && !event.target.closest('#involvement-menu, #involvement-button')) closeMenu();
  });
  $('room-settings-button').addEventListener('click', openSettings);
  $('new-direct').addEventListener('click', openNewDirect);
  for (const type of ['room-opened', 'draft-opened', 'RoomUpdated', 'RoomRemoved', 'ready']) {
    on(type, () => {
      renderControls();
      if (!$('involvement-menu').hidden) openMenu();
    });
  }
}
