// Links into the page: `/#room=ID` opens a room and `/#room=ID&message=ID` a message in it, as
// notifications and the service worker write them (campfire/notifications.py room_path and
// message_path). Followed on load, on every hashchange, and when a notification is clicked.
import { openRoom } from './rooms.js';
import { $, showNotice, state } from './state.js';

const LOAD_WAIT_MS = 8000; // how long a link waits for its room's newest page

/** The room and message a hash names, or null: `#room=ID[&message=ID]`. */
export function parseLink(hash = location.hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const roomId = params.get('room');
  return roomId ? { roomId, messageId: params.get('message') } : null;
}

/** The room the page's address links to, if it is one of the user's rooms. */
export function linkedRoomId() {
  const link = parseLink();
  return link && state.rooms.has(link.roomId) ? link.roomId : null;
}

/** Resolve once the open room's newest page is in (or after a while, whatever happened). */
function loaded() {
  const started = Date.now();
  return new Promise((resolve) => {
    const check = () => {
      const view = state.view;
      if (!view || view.loaded || Date.now() - started > LOAD_WAIT_MS) resolve();
      else setTimeout(check, 50);
    };
    check();
  });
}

/** Scroll to a shown message and mark it for a moment; false if it is not loaded. */
export function highlightMessage(messageId) {
  const item = [...$('messages').querySelectorAll('li.message')].find((li) => li.dataset.id === messageId);
  if (!item) return false;
  for (const old of $('messages').querySelectorAll('li.linked')) old.classList.remove('linked');
  item.classList.add('linked');
  item.scrollIntoView({ block: 'center' });
  return true;
}

/** Open a room (and show one of its messages, when it is loaded); false if it is not ours. */
export async function openLink(roomId, messageId = null) {
  if (!state.me) return false;
  if (!state.rooms.has(roomId)) {
    showNotice('That room is not one of yours, or it no longer exists.');
    return false;
  }
  await openRoom(roomId);
  await loaded();
  if (messageId && state.currentId === roomId && !highlightMessage(messageId)) {
    showNotice('That message is further back in the room: scroll up to find it.');
  }
  return true;
}

/** Follow the link in the page's address, if any, then drop it (so the same link works twice). */
export async function followLink() {
  const link = parseLink();
  // Not before the chat has started (rooms loaded, socket made): startChat follows it then.
  if (!link || !state.me || !state.socket) return;
  history.replaceState(null, '', location.pathname + location.search);
  await openLink(link.roomId, link.messageId);
}

/** Follow links as the address changes (a link clicked in a message, a notification). */
export function wireLinks() {
  window.addEventListener('hashchange', () => { followLink(); });
}
