// The quick switcher: Ctrl+K (Cmd+K on a Mac) finds a room or a person by name.
import { el } from './render.js';
import { openDirect, openRoom, orderedRooms, roomName } from './rooms.js';
import { $, state } from './state.js';

const MAX_SHOWN = 12;
let matches = []; // [{label, kind, open}]
let active = 0;

/** Rooms (in sidebar order) then people, whose name contains the query (any case). */
function find(query) {
  const q = query.trim().toLocaleLowerCase();
  const rooms = orderedRooms().map((room) => ({
    label: roomName(room),
    kind: `${room.involvement === 'invisible' ? 'Hidden ' : ''}${room.room_type === 'direct' ? 'direct message' : 'room'}`
      .replace(/^./, (c) => c.toUpperCase()),
    open: () => openRoom(room.id),
  }));
  const direct = new Set(orderedRooms().filter((r) => r.room_type === 'direct').map(roomName));
  const people = [...state.users.values()]
    .filter((u) => u.id !== state.me.id && u.is_active !== false && !direct.has(u.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((user) => ({ label: user.name, kind: 'Person', open: () => openDirect(user) }));
  return [...rooms, ...people].filter((m) => m.label.toLocaleLowerCase().includes(q));
}

function render() {
  const list = $('switcher-list');
  list.replaceChildren();
  matches.slice(0, MAX_SHOWN).forEach((match, i) => {
    const li = el('li', 'switcher-item');
    li.id = `switcher-${i}`;
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', String(i === active));
    li.append(el('span', 'switcher-name', match.label), el('span', 'switcher-kind', match.kind));
    li.addEventListener('click', () => choose(i));
    list.append(li);
  });
  if (!matches.length) list.append(el('li', 'switcher-empty muted', 'Nothing matches.'));
  const input = $('switcher-input');
  if (matches.length) input.setAttribute('aria-activedescendant', `switcher-${active}`);
  else input.removeAttribute('aria-activedescendant');
}

function update() {
  matches = find($('switcher-input').value);
  active = 0;
  render();
}

function choose(i) {
  const match = matches[i];
  $('switcher').close();
  if (match) match.open();
}

/** Open the switcher with an empty query. */
export function openSwitcher() {
  if (!state.me || $('chat-view').hidden) return;
  $('switcher-input').value = '';
  update();
  if (!$('switcher').open) $('switcher').showModal();
  $('switcher-input').focus();
}

/** Wire Ctrl+K / Cmd+K and the switcher's keys. */
export function wireSwitcher() {
  document.addEventListener('keydown', (event) => {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === 'k') {
      event.preventDefault();
      openSwitcher();
    }
  });
  const input = $('switcher-input');
  input.addEventListener('input', update);
  input.addEventListener('keydown', (event) => {
    const shown = Math.min(matches.length, MAX_SHOWN);
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      if (shown) active = (active + (event.key === 'ArrowDown' ? 1 : shown - 1)) % shown;
      render();
    } else if (event.key === 'Enter') {
      event.preventDefault();
      choose(active);
    }
  });
  $('switcher').addEventListener('click', (event) => {
    if (event.target === $('switcher')) $('switcher').close(); // a click on the backdrop
  });
}
