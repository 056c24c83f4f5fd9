// Rooms: the sidebar's lists (rooms, then direct messages) with unread counts, creating rooms,
// opening one (or a direct conversation still to be created), and the phone's sidebar.
import * as api from './api.js';
import { failed } from './auth.js';
import { restoreDraft, stopTyping } from './composer.js';
import { dispatch } from './events.js';
import { flushSeen, loadAround, loadLatest, newView, showDraftDirect } from './messages.js';
import { renderPresence, renderTyping } from './people.js';
import { el } from './render.js';
import { $, phone, state } from './state.js';

const ROOM_KEY = 'campfire.room';
const ROOM_ICONS = { open: '#', direct: '@' };

/** Load the user's rooms (with their unread counts) and redraw the lists. */
export async function loadRooms() {
  const { rooms } = await api.rooms();
  state.rooms = new Map(rooms.map((room) => {
    room.unreadCount = room.id === state.currentId ? 0 : room.unread_count ?? 0;
    room.unreadMentions = room.id === state.currentId ? 0 : room.unread_mentions ?? 0;
    return [room.id, room];
  }));
  renderRooms();
}

/**
 * A room's name as this user sees it. A direct room is named after the others in it, from its
 * `member_ids` and the people's current names (a name may hold a comma: `name` is never split);
 * the server's `name` is the fallback while someone in it is not known yet.
 */
export function roomName(room) {
  if (room.room_type !== 'direct' || !room.member_ids) return room.name;
  const others = room.member_ids.filter((id) => id !== state.me.id);
  const people = (others.length ? others : room.member_ids).map((id) => state.users.get(id));
  if (!people.length || people.some((user) => !user)) return room.name;
  return people.map((user) => user.name).sort((a, b) => a.localeCompare(b)).join(', ');
}

/** Whether a room shows in the sidebar: a room set to `invisible` is hidden (Ctrl+K finds it). */
export function listed(room) {
  return room.involvement !== 'invisible';
}

/** Rooms in sidebar order: open and closed rooms by name, then direct rooms by name. */
export function orderedRooms() {
  const byName = (a, b) => roomName(a).localeCompare(roomName(b));
  const all = [...state.rooms.values()];
  return [
    ...all.filter((r) => r.room_type !== 'direct').sort(byName),
    ...all.filter((r) => r.room_type === 'direct').sort(byName),
  ];
}

/** "999+" past the server's cap. */
function countText(count) {
  return count > 999 ? '999+' : String(count);
}

function roomItem(room) {
  const button = el('button');
  button.type = 'button';
  button.dataset.roomId = room.id;
  button.title = roomName(room);
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
  if (room.unreadMentions) {
    const n = room.unreadMentions;
    const at = el('span', 'mention-count', `@${countText(n)}`);
    at.setAttribute('aria-hidden', 'true');
    button.append(at, el('span', 'visually-hidden', `, ${countText(n)} mention${n === 1 ? '' : 's'} of you`));
  }
  if (room.unreadCount) {
    const badge = el('span', 'unread-count', countText(room.unreadCount));
    badge.setAttribute('aria-hidden', 'true');
    const n = room.unreadCount;
    button.append(badge, el('span', 'visually-hidden', `, ${countText(n)} unread message${n === 1 ? '' : 's'}`));
  }
  button.addEventListener('click', () => openRoom(room.id));
  const li = el('li', room.unreadCount ? 'unread' : '');
  li.append(button);
  return li;
}

/** Redraw the room lists, the tab title and the phone's menu marker from state.rooms. */
export function renderRooms() {
  const rooms = orderedRooms().filter(listed);
  const groups = [
    ['room-list', rooms.filter((r) => r.room_type !== 'direct'), 'No rooms yet: create one below.'],
    ['direct-list', rooms.filter((r) => r.room_type === 'direct'), 'Pick someone under People to talk to.'],
  ];
  for (const [id, list, empty] of groups) {
    $(id).replaceChildren(...list.map(roomItem));
    if (!list.length) $(id).append(el('li', 'signed-in', empty));
  }
  renderTotals();
}

/** The unread total in the tab title and on the phone's menu button. */
function renderTotals() {
  const total = [...state.rooms.values()].filter(listed).reduce((sum, r) => sum + (r.unreadCount || 0), 0);
  const room = state.rooms.get(state.currentId);
  const site = state.accountName || 'Campfire';
  const title = room ? `${roomName(room)} · ${site}` : state.draftDirect ? `${state.draftDirect.name} · ${site}` : site;
  document.title = total ? `(${countText(total)}) ${title}` : title;
  const marker = $('menu-unread');
  marker.hidden = !total;
  marker.textContent = countText(total);
  dispatch({ type: 'unread', total }); // the favicon shows it too (notifications.js)
  const open = $('chat-view').classList.contains('sidebar-open');
  $('menu-toggle').setAttribute('aria-label', `${open ? 'Hide' : 'Show'} rooms${total ? ` (${countText(total)} unread)` : ''}`);
}

/** A message by someone else arrived in a room that is not open: count it, once (the
 * catch-up after connecting resends messages the room list has already counted). */
export function countUnread(message) {
  const room = state.rooms.get(message.room_id);
  if (!room || (room.last_message_seq != null && message.seq <= room.last_message_seq)) return;
  room.last_message_seq = message.seq;
  room.unreadCount = (room.unreadCount || 0) + 1;
  if ((message.mentions || []).includes(state.me.id)) room.unreadMentions = (room.unreadMentions || 0) + 1;
  renderRooms();
}

async function createRoom(event) {
  event.preventDefault();
  const input = $('new-room-name');
  const error = $('new-room-error');
  const name = input.value.trim();
  error.textContent = '';
  if (!name) {
    error.textContent = 'Please enter a name for the room.';
    return input.focus();
  }
  try {
    const { room } = await api.createRoom(name, $('new-room-type').value);
    $('new-room-form').reset(); // back to an empty name and the default type
    await loadRooms();
    await openRoom(room.id);
  } catch (err) {
    if (err.code === 'ROOM_NAME_TAKEN' || err.code === 'VALIDATION_FAILED') {
      error.textContent = err.code === 'ROOM_NAME_TAKEN'
        ? `There is already a room called “${name}”. Please pick another name.`
        : err.message;
      input.focus();
      input.select();
    } else {
      failed(err, 'Could not create the room');
    }
  }
}

/** The room saved as last open, if the user still has it. */
export function savedRoomId() {
  const saved = localStorage.getItem(ROOM_KEY);
  return state.rooms.has(saved) ? saved : null;
}

/** Leave whatever is open (room or draft conversation) before showing something else. */
function leaveCurrent() {
  closeSidebar();
  stopTyping();
  flushSeen(); // the room being left: do not lose a pending mark
  if (state.currentId) state.socket.send({ type: 'LeaveRoom', room_id: state.currentId });
  state.currentId = null;
  state.draftDirect = null;
  state.present = [];
  state.typing.clear();
  $('messages').replaceChildren();
  $('jump-latest').hidden = true;
}

/** Make a room the open one: leave the old one, join the new one, load its newest page (or,
 * given `aroundSeq`, the history around that message). */
export async function openRoom(roomId, aroundSeq = null) {
  if (state.currentId === roomId && state.view && aroundSeq == null) return closeSidebar();
  const room = state.rooms.get(roomId);
  if (!room) return;
  leaveCurrent();
  const unread = room.unreadCount || 0;
  state.currentId = roomId;
  localStorage.setItem(ROOM_KEY, roomId);
  room.unreadCount = 0;
  room.unreadMentions = 0;
  renderRooms();
  $('room-title').textContent = roomName(room);
  $('room-title').title = roomName(room);
  $('presence').hidden = false;
  renderPresence();
  renderTyping();
  enableComposer(`Message ${room.room_type === 'direct' ? '' : '#'}${roomName(room)}`, roomId);
  state.view = newView(roomId, unread);
  state.socket.send({ type: 'JoinRoom', room_id: roomId });
  dispatch({ type: 'room-opened', roomId });
  if (aroundSeq != null) await loadAround(state.view, aroundSeq);
  else await loadLatest(state.view);
}

/** Talk to one person: their direct room if it exists, else a draft created on the first message. */
export async function openDirect(user) {
  const pair = [state.me.id, user.id].sort().join(',');
  const existing = [...state.rooms.values()].find(
    (r) => r.room_type === 'direct' && (r.member_ids || []).join(',') === pair,
  );
  if (existing) return openRoom(existing.id);
  leaveCurrent();
  state.view = null;
  state.draftDirect = user;
  renderRooms();
  $('room-title').textContent = user.name;
  $('room-title').title = user.name;
  $('presence').hidden = true;
  renderTyping();
  enableComposer(`Message ${user.name}`, `direct:${user.id}`);
  showDraftDirect(user);
  dispatch({ type: 'draft-opened', userId: user.id });
}

/** Create the draft conversation's room (on its first message) and open it. */
export async function createDraftDirect() {
  const user = state.draftDirect;
  const { room } = await api.directRoom([user.id]);
  await loadRooms();
  if (state.draftDirect === user) await openRoom(room.id);
  return room.id;
}

function enableComposer(placeholder, draftKey) {
  const input = $('composer-input');
  input.disabled = false;
  $('send').disabled = false;
  input.placeholder = placeholder;
  restoreDraft(draftKey);
  if (!phone.matches) input.focus();
}

/** Alt+Up / Alt+Down: the previous or next room in the sidebar's order. */
function moveRoom(step) {
  const rooms = orderedRooms().filter(listed);
  if (!rooms.length) return;
  const at = rooms.findIndex((r) => r.id === state.currentId);
  const next = at < 0 ? (step > 0 ? 0 : rooms.length - 1) : (at + step + rooms.length) % rooms.length;
  openRoom(rooms[next].id);
}

/** Open or close the sliding sidebar (phones). */
export function setSidebar(open) {
  $('chat-view').classList.toggle('sidebar-open', open);
  $('menu-toggle').setAttribute('aria-expanded', String(open));
  $('scrim').hidden = !open;
  $('sidebar').inert = phone.matches && !open;
  renderTotals();
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

/** Wire the new-room form, the sidebar's toggles and the room keys. */
export function wireRooms() {
  $('new-room-form').addEventListener('submit', createRoom);
  $('new-room-name').addEventListener('input', () => { $('new-room-error').textContent = ''; });
  $('menu-toggle').addEventListener('click', () => {
    setSidebar(!$('chat-view').classList.contains('sidebar-open'));
  });
  $('scrim').addEventListener('click', closeSidebar);
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') closeSidebar();
    if (event.altKey && !event.ctrlKey && !event.metaKey && state.me && !$('chat-view').hidden
      && (event.key === 'ArrowUp' || event.key === 'ArrowDown')) {
      event.preventDefault();
      moveRoom(event.key === 'ArrowUp' ? -1 : 1);
    }
  });
  phone.addEventListener('change', () => setSidebar(false));
}
