// Rooms: the room list in the sidebar, creating rooms, opening one, and the phone's sidebar.
import * as api from './api.js';
import { failed } from './auth.js';
import { stopTyping } from './composer.js';
import { dispatch } from './events.js';
import { flushSeen, loadLatest, newView } from './messages.js';
import { renderPresence, renderTyping } from './people.js';
import { el } from './render.js';
import { $, phone, state } from './state.js';

const ROOM_KEY = 'campfire.room';
const ROOM_ICONS = { open: '#', direct: '@' };

/** Load the user's rooms and redraw the list. */
export async function loadRooms() {
  const { rooms } = await api.rooms();
  state.rooms = new Map(rooms.map((room) => {
    const last = room.last_message_seq;
    room.unread = room.id !== state.currentId && last != null && last > (room.last_seen_seq ?? 0);
    return [room.id, room];
  }));
  renderRooms();
}

/** A room's name as this user sees it: a direct room is named after the others in it. */
export function roomName(room) {
  if (room.room_type !== 'direct') return room.name;
  const names = room.name.split(', ');
  const mine = names.indexOf(state.me.name);
  if (mine >= 0 && names.length > 1) names.splice(mine, 1);
  return names.join(', ');
}

/** Redraw the room list from state.rooms. */
export function renderRooms() {
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

/** The room saved as last open, if the user still has it. */
export function savedRoomId() {
  const saved = localStorage.getItem(ROOM_KEY);
  return state.rooms.has(saved) ? saved : null;
}

/** Make a room the open one: leave the old one, join the new one, load its newest page. */
export async function openRoom(roomId) {
  closeSidebar();
  if (state.currentId === roomId && state.view) return;
  const room = state.rooms.get(roomId);
  if (!room) return;
  stopTyping();
  flushSeen(); // the room being left: do not lose a pending mark
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
  dispatch({ type: 'room-opened', roomId });
  await loadLatest(state.view);
}

/** Open or close the sliding sidebar (phones). */
export function setSidebar(open) {
  $('chat-view').classList.toggle('sidebar-open', open);
  $('menu-toggle').setAttribute('aria-expanded', String(open));
  $('menu-toggle').setAttribute('aria-label', open ? 'Hide rooms' : 'Show rooms');
  $('scrim').hidden = !open;
  $('sidebar').inert = phone.matches && !open;
  if (open) ($('room-list').querySelector('button') || $('logout')).focus();
}

/** Close the sliding sidebar if it is open. */
export function closeSidebar() {
  if ($('chat-view').classList.contains('sidebar-open')) {
    setSidebar(false);
    $('menu-toggle').focus();
  } else {
    $('sidebar').inert = phone.matches;
  }
}

/** Wire the new-room form and the sidebar's toggles. */
export function wireRooms() {
  $('new-room-form').addEventListener('submit', createRoom);
  $('menu-toggle').addEventListener('click', () => {
    setSidebar(!$('chat-view').classList.contains('sidebar-open'));
  });
  $('scrim').addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeSidebar();
  });
  phone.addEventListener('change', () => setSidebar(false));
}
