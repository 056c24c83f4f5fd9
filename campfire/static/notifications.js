// Notifications in the open page (issue 15): who is told of a new message (semantics.md,
// "Involvement"), the desktop notification and the chime, the favicon badge, and the sidebar's
// Notifications settings: desktop notifications (asked for on a click, never on load), the sound
// (per person, off by default) and Web Push for when no page is open (push.js).
import { beforeLogout } from './auth.js';
import { on } from './events.js';
import { showFaviconCount } from './favicon.js';
import { openLink, wireLinks } from './links.js';
import { nameOf } from './people.js';
import { isSubscribed, onOpenRoom, pushSupported, registerServiceWorker, subscribePush,
  unsubscribePush } from './push.js';
import { roomName } from './rooms.js';
import { $, loadSaved, save, state } from './state.js';

const BODY_CHARS = 300; // what a notification shows of a message (as campfire/push.py)
const SOUND_GAP_MS = 1500; // a burst of messages chimes once
const WAIT_FOR_ROOM_MS = 10000; // a message in a room the page is still loading
const DESKTOP = 'notify-desktop'; // saved per user: false once turned off in the page
const SOUND = 'notify-sound'; // saved per user: true once turned on

const shown = new Map(); // room id -> the desktop notification shown for it
const waiting = new Map(); // room id -> {message, at}: its room is not in state.rooms yet
let audio = null;
let lastChime = 0;

/** A room's involvement: what the server says, else the default (direct rooms: everything). */
export function involvementOf(room) {
  return room.involvement || (room.room_type === 'direct' ? 'everything' : 'mentions');
}

/**
 * Whether this person is told of a message (semantics.md, "Involvement"): not their own, not
 * in the room they are viewing while the page is visible; `everything` always, `mentions` when
 * it mentions them, never `nothing` or `invisible`.
 */
export function shouldNotify(message, room) {
  if (!room || !state.me || message.creator_id === state.me.id) return false;
  if (message.room_id === state.currentId && document.visibilityState === 'visible') return false;
  const involvement = involvementOf(room);
  return involvement === 'everything'
    || (involvement === 'mentions' && (message.mentions || []).includes(state.me.id));
}

/** Title and body, as the server's pushes say it: a direct room by its author, else the room. */
export function describe(message, room) {
  const author = nameOf(message.creator_id);
  let text = message.content || (message.attachment ? `📎 ${message.attachment.filename}` : '');
  const chars = [...text];
  if (chars.length > BODY_CHARS) text = `${chars.slice(0, BODY_CHARS - 1).join('')}…`;
  return room.room_type === 'direct'
    ? { title: author, body: text }
    : { title: roomName(room), body: `${author}: ${text}` };
}

/** Desktop notifications are allowed by the browser and not turned off in the page. */
function desktopOn() {
  return 'Notification' in window && Notification.permission === 'granted'
    && loadSaved(DESKTOP, true) !== false;
}

/** Show a desktop notification that opens the room (and the message) when clicked. */
async function showDesktop(message, room) {
  if (!desktopOn()) return;
  const { title, body } = describe(message, room);
  // One per room, as the service worker's: a newer message replaces the older one.
  const options = { body, tag: `room-${room.id}`, icon: '/static/favicon.svg',
    data: { room_id: room.id, message_id: message.id } };
  let note;
  try {
    note = new Notification(title, options);
  } catch {
    // Chrome on Android allows notifications only through the service worker; its click
    // handler asks this page to open the room (push.js onOpenRoom).
    const registration = 'serviceWorker' in navigator && (await navigator.serviceWorker.getRegistration('/'));
    if (registration) {
      options.data.path = `/#room=${room.id}&message=${message.id}`;
      await registration.showNotification(title, options).catch(() => {});
    }
    return;
  }
  shown.set(room.id, note);
  note.addEventListener('click', () => {
    window.focus();
    note.close();
    openLink(room.id, message.id);
  });
  note.addEventListener('close', () => { if (shown.get(room.id) === note) shown.delete(room.id); });
}

/** Play the chime, if this person turned the sound on (once for a burst). */
function chime(force = false) {
  if (!force && !loadSaved(SOUND, false)) return;
  const now = Date.now();
  if (!force && now - lastChime < SOUND_GAP_MS) return;
  lastChime = now;
  audio = audio || new Audio('/static/chime.wav');
  audio.currentTime = 0;
  // Browsers refuse sound until the person has interacted with the page: then it stays quiet.
  audio.play().catch(() => {});
}

/** Tell the person about a message, if the rule says so. */
function notify(message) {
  const room = state.rooms.get(message.room_id);
  if (!shouldNotify(message, room)) return;
  showDesktop(message, room);
  chime();
}

on('NewMessage', ({ message }) => {
  // Before Ready the server replays what was missed: old news, already counted as unread.
  if (!state.socket || !state.socket.ready) return;
  if (state.rooms.has(message.room_id)) notify(message);
  else if (waiting.size < 50) waiting.set(message.room_id, { message, at: Date.now() });
});

on('unread', ({ total }) => {
  showFaviconCount(total);
  // The room list changed: a room a waiting message belongs to may have arrived.
  for (const [roomId, { message, at }] of waiting) {
    if (state.rooms.has(roomId)) notify(message);
    if (state.rooms.has(roomId) || Date.now() - at > WAIT_FOR_ROOM_MS) waiting.delete(roomId);
  }
});

on('room-opened', ({ roomId }) => {
  const note = shown.get(roomId);
  if (note) note.close();
});

/** Redraw the Notifications settings from the browser's permission and the saved choices. */
async function renderSettings() {
  const supported = 'Notification' in window;
  const permission = supported ? Notification.permission : 'denied';
  const desktop = $('notify-desktop');
  const enabled = desktopOn();
  desktop.hidden = !supported || permission === 'denied';
  desktop.textContent = enabled ? 'Turn off desktop notifications' : 'Turn on desktop notifications';
  $('notify-desktop-state').textContent = !supported
    ? 'This browser cannot show notifications.'
    : permission === 'denied'
      ? 'Desktop notifications are blocked: allow them for this site in the browser’s settings.'
      : enabled ? 'Desktop notifications are on.' : 'Desktop notifications are off.';
  $('notify-sound').checked = Boolean(loadSaved(SOUND, false));
  const pushed = await renderPush();
  $('notify-summary').textContent = enabled || pushed ? 'on' : 'off';
}

/** The Web Push button and its state line; whether this browser is subscribed. */
async function renderPush(error = '') {
  const button = $('notify-push');
  const line = $('notify-push-state');
  if (!pushSupported()) {
    button.hidden = true;
    line.textContent = window.isSecureContext
      ? 'This browser cannot notify you when the page is closed.'
      : 'Notifications when the page is closed need the site on HTTPS.';
    return false;
  }
  const subscribed = await isSubscribed().catch(() => false);
  button.hidden = Notification.permission === 'denied' && !subscribed;
  button.dataset.subscribed = String(subscribed);
  button.textContent = subscribed ? 'Stop notifying me when this page is closed' : 'Notify me when this page is closed';
  line.textContent = error || (subscribed
    ? 'This browser gets a notification when no Campfire page is open.'
    : '');
  return subscribed;
}

/** The desktop button: ask the browser (on this click), or switch the page's setting. */
async function toggleDesktop() {
  if (desktopOn()) {
    save(DESKTOP, false);
  } else {
    if (Notification.permission === 'default') await Notification.requestPermission();
    save(DESKTOP, true);
  }
  await renderSettings();
}

/** The push button: subscribe this browser (asking for permission first) or unsubscribe it. */
async function togglePush() {
  const button = $('notify-push');
  const subscribed = button.dataset.subscribed === 'true';
  button.disabled = true;
  $('notify-push-state').textContent = subscribed ? 'Turning off…' : 'Turning on…';
  let error = '';
  try {
    if (subscribed) await unsubscribePush();
    else if (!(await subscribePush())) error = 'Not turned on: the browser did not allow notifications.';
  } catch (err) {
    error = `Could not ${subscribed ? 'turn off' : 'turn on'}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
  await renderSettings();
  if (error) await renderPush(error);
}

/** Start for a signed-in person: settings, the service worker, this browser's subscription. */
async function start() {
  await renderSettings();
  // Permission changed in the browser's site settings: show it.
  navigator.permissions?.query({ name: 'notifications' })
    .then((status) => { status.onchange = renderSettings; }).catch(() => {});
  if (!('serviceWorker' in navigator)) return;
  // Registered on load (no permission needed) so the page can be installed; pushes need a click.
  await registerServiceWorker().catch(() => null);
  // Tell the server again about this browser's subscription: it may have been dropped (a 410)
  // or belong to whoever signed in here before. Only with permission: never a prompt on load.
  if (Notification.permission === 'granted' && (await isSubscribed().catch(() => false))) {
    await subscribePush().catch(() => null);
  }
}

/** Wire the Notifications settings, links and the service worker's clicks (once, at boot). */
export function wireNotifications() {
  wireLinks();
  $('notify-desktop').addEventListener('click', toggleDesktop);
  $('notify-sound').addEventListener('change', (event) => {
    save(SOUND, event.target.checked);
    if (event.target.checked) chime(true); // what it will sound like
  });
  $('notify-push').addEventListener('click', togglePush);
  onOpenRoom(({ room_id: roomId, message_id: messageId }) => openLink(roomId, messageId));
  beforeLogout(() => unsubscribePush()); // pushes for this person end with their session here
  let started = false;
  on('ready', () => {
    if (!started) start();
    started = true;
  });
}
