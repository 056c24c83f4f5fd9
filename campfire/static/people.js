// People: the user list in the sidebar, names, presence ("Here now") and the typing line.
import * as api from './api.js';
import { failed } from './auth.js';
import { on } from './events.js';
import { avatarFor, refreshAvatars } from './avatars.js';
import { el, setPeople, typingText } from './render.js';
import { openDirect } from './rooms.js';
import { $, state } from './state.js';

/** A person's name, or 'Unknown user' until the user list knows them. */
export function nameOf(userId) {
  const user = state.users.get(userId);
  return user ? user.name : 'Unknown user';
}

/** Load the user list and refresh every name shown. */
export async function loadUsers() {
  const { users } = await api.users();
  state.users = new Map(users.map((u) => [u.id, u]));
  refreshNames();
}

/** Redraw every name shown (people list, messages, presence, typing) from state.users. */
export function refreshNames() {
  setPeople([...state.users.values()]);
  renderUsers();
  for (const li of $('messages').querySelectorAll('li.message')) {
    const name = nameOf(li.dataset.userId);
    li.querySelector('.author').textContent = name;
    li.querySelector('.author').title = name;
  }
  refreshAvatars(); // names, colours and pictures, wherever a person shows
  renderPresence();
  renderTyping();
}

let usersRefresh = null;
/** Someone we do not know yet wrote: reload the user list, once for a burst. */
export function refreshUsersSoon() {
  usersRefresh ??= setTimeout(() => {
    usersRefresh = null;
    loadUsers().catch((err) => failed(err, 'Could not load people'));
  }, 300);
}

function renderUsers() {
  const list = $('user-list');
  list.replaceChildren();
  const others = [...state.users.values()].filter((u) => u.id !== state.me.id && u.is_active !== false);
  others.sort((a, b) => a.name.localeCompare(b.name));
  for (const user of others) {
    const button = el('button');
    button.type = 'button';
    button.dataset.userId = user.id;
    button.setAttribute('aria-label', `Message ${user.name}`);
    button.title = user.name;
    button.append(avatarFor(user.id, user.name, 'avatar avatar-small'), el('span', 'room-name', user.name));
    button.addEventListener('click', () => openDirect(user));
    const li = el('li');
    li.append(button);
    list.append(li);
  }
  if (!others.length) list.append(el('li', 'signed-in', 'Nobody else yet.'));
}

/** The "Here now" strip of the open room. */
export function renderPresence() {
  const box = $('presence');
  box.replaceChildren();
  if (!state.currentId) return;
  if (!state.socket || !state.socket.ready) {
    box.append(el('span', null, 'Presence unavailable while offline'));
    return;
  }
  box.append(el('span', null, 'Here now:'));
  const people = state.present.map((id) => [id, nameOf(id)]).sort((a, b) => a[1].localeCompare(b[1]));
  for (const [id, name] of people) {
    const person = el('span', 'person');
    person.title = name;
    person.append(avatarFor(id, name, 'avatar avatar-tiny'), el('span', null, name));
    box.append(person);
  }
}

/** The "Ann is typing…" line of the open room. */
export function renderTyping() {
  const names = [...state.typing].map(nameOf).sort((a, b) => a.localeCompare(b));
  $('typing').textContent = typingText(names);
}

on('PresenceUpdate', (event) => {
  if (event.room_id !== state.currentId) return;
  state.present = event.online_users;
  if (state.present.some((id) => !state.users.has(id))) refreshUsersSoon();
  renderPresence();
});

on('TypingStart', (event) => {
  if (event.room_id !== state.currentId || event.user_id === state.me.id) return;
  state.typing.add(event.user_id);
  renderTyping();
});

on('TypingStop', (event) => {
  if (event.room_id !== state.currentId) return;
  state.typing.delete(event.user_id);
  renderTyping();
});
