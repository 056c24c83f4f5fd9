// Avatars: a person's picture (their avatar_url) over their initials, wherever a person shows
// (messages, the people list, "Here now"), kept current by UserUpdated; and the small menu on
// one's own avatar in the sidebar that changes or removes one's picture.
import * as api from './api.js';
import { on } from './events.js';
import { colourFor, el, initials } from './render.js';
import { $, state } from './state.js';
import { localPath, sendForm, uploadErrorText } from './upload.js';

/**
 * Fill an avatar element for a person: their initials on their colour, and their picture over
 * them when they have one (a picture that fails to load leaves the initials showing).
 */
export function fillAvatar(node, userId, name) {
  node.dataset.avatarUser = userId;
  node.dataset.initials = initials(name); // shown by CSS: the element's text stays empty
  node.replaceChildren();
  node.style.background = colourFor(userId);
  const url = localPath(state.users.get(userId)?.avatar_url);
  node.classList.toggle('has-picture', Boolean(url));
  if (!url) return;
  const img = el('img');
  img.alt = '';
  img.src = url;
  img.addEventListener('error', () => {
    img.remove();
    node.classList.remove('has-picture');
  });
  node.append(img);
}

/** A new avatar element (decorative: the person's name is always beside it). */
export function avatarFor(userId, name, className = 'avatar') {
  const node = el('span', className);
  node.setAttribute('aria-hidden', 'true');
  fillAvatar(node, userId, name);
  return node;
}

/** Redraw every avatar shown (of one person, or of everyone). */
export function refreshAvatars(userId = null) {
  if (state.me) $('my-avatar').dataset.avatarUser = state.me.id;
  for (const node of document.querySelectorAll('[data-avatar-user]')) {
    const id = node.dataset.avatarUser;
    if (userId && id !== userId) continue;
    const user = state.users.get(id) || (state.me && id === state.me.id ? state.me : null);
    fillAvatar(node, id, user ? user.name : '?');
  }
  renderMenu();
}

on('UserUpdated', ({ user }) => {
  // Only fields we know: the people list (and its other handlers) decides about newcomers.
  const known = state.users.get(user.id);
  if (known) Object.assign(known, user);
  if (state.me && user.id === state.me.id) Object.assign(state.me, user);
  if (known || user.id === state.me?.id) refreshAvatars(user.id);
});

// The menu on one's own avatar: Change picture… / Remove picture.

function myPicture() {
  return state.users.get(state.me.id)?.avatar_url || state.me.avatar_url || null;
}

function renderMenu() {
  if (!state.me) return;
  $('avatar-remove').disabled = !myPicture();
}

function setMenu(open) {
  $('avatar-menu').hidden = !open;
  $('my-avatar').setAttribute('aria-expanded', String(open));
  if (open) {
    renderMenu();
    $('avatar-change').focus();
  }
}

function say(text, isError = false) {
  const status = $('avatar-status');
  status.textContent = text;
  status.classList.toggle('side-error', isError);
}

/** Take the server's new version of me (after a change) and redraw my avatars at once. */
function applyMe(user) {
  Object.assign(state.me, user);
  const known = state.users.get(user.id);
  if (known) Object.assign(known, user);
  refreshAvatars(user.id);
}

async function upload(file) {
  const form = new FormData();
  form.append('file', file, file.name || 'picture');
  say('Uploading your picture…');
  try {
    const { user } = await sendForm('PUT', '/api/users/me/avatar', form, (sent, total) => {
      say(`Uploading your picture… ${Math.floor((100 * sent) / total)}%`);
    }).done;
    applyMe(user);
    say('Your picture is changed.');
  } catch (err) {
    say(uploadErrorText(err, file.name || 'The picture'), true);
  }
}

async function remove() {
  try {
    const { user } = await api.removeAvatar();
    applyMe(user);
    say('Your picture is removed: your initials show instead.');
    $('avatar-change').focus();
  } catch (err) {
    say(`Could not remove your picture: ${err.message}`, true);
  }
}

/** Wire the own-avatar button and its menu. */
export function wireAvatars() {
  const button = $('my-avatar');
  const menu = $('avatar-menu');
  const file = $('avatar-file');
  button.addEventListener('click', () => {
    say('');
    setMenu(menu.hidden);
  });
  $('avatar-change').addEventListener('click', () => file.click());
  file.addEventListener('change', () => {
    if (file.files.length) upload(file.files[0]);
    file.value = ''; // choosing the same file again is a new change
  });
  $('avatar-remove').addEventListener('click', remove);
  menu.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.stopPropagation();
    setMenu(false);
    button.focus();
  });
  document.addEventListener('click', (event) => {
    if (!menu.hidden && !menu.contains(event.target) && !button.contains(event.target)) setMenu(false);
  });
}
