// DOM builders. User data only ever goes in through textContent and attributes, never HTML.
import { isEmojiOnly, renderContent } from './markdown.js';
import { attachmentView } from './attachments.js';
import { fillAvatar } from './avatars.js';

/** Create an element with a class and optional text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** "14:05" (or "2:05 PM") today, "3 Mar 14:05" on another day. */
export function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const time = date.toLocaleTimeString([], { hour: 'numeric', minute: '2-digit' });
  if (date.toDateString() === new Date().toDateString()) return time;
  return `${date.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

/** Full date and time, for the hover title of every time shown. */
export function fullTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleString([], { dateStyle: 'full', timeStyle: 'short' });
}

/** The calendar day of a time, as a key ("2026-11-23" in local time). */
export function dayKey(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** "Today", "Yesterday", or "Mon 23 Nov 2026": the label of a date divider. */
export function dayLabel(iso, now = new Date()) {
  const date = new Date(iso);
  const yesterday = new Date(now.getFullYear(), now.getMonth(), now.getDate() - 1);
  if (dayKey(iso) === dayKey(now.toISOString())) return 'Today';
  if (dayKey(iso) === dayKey(yesterday.toISOString())) return 'Yesterday';
  const part = (options) => date.toLocaleDateString([], options);
  return `${part({ weekday: 'short' })} ${date.getDate()} ${part({ month: 'short' })} ${date.getFullYear()}`;
}

// Avatar hues: people sorted by when they joined get hues a golden angle (137.5°) apart, so
// any few people side by side have clearly different colours (a hash of the id did not).
const GOLDEN_ANGLE = 137.508;
const hues = new Map(); // user id -> hue

/** Give every known person their hue (call with the whole user list). */
export function setPeople(users) {
  hues.clear();
  const sorted = [...users].sort((a, b) => (a.created_at + a.id).localeCompare(b.created_at + b.id));
  sorted.forEach((user, i) => hues.set(user.id, (i * GOLDEN_ANGLE) % 360));
}

/** A person's avatar colour (dark enough for white initials: lightness 42 of 100). */
export function colourFor(id) {
  const hue = hues.get(id);
  return hue == null ? '#6b625c' : `lch(42% 42 ${hue.toFixed(1)})`;
}

/** Initials for an avatar. */
export function initials(name) {
  const words = (name || '?').trim().split(/\s+/).filter(Boolean);
  return words.slice(0, 2).map((w) => [...w][0].toUpperCase()).join('') || '?';
}

/**
 * One message as a list item. `message` has content, creator_id, created_at and, once stored,
 * id and seq; `state` is '' (stored), 'sending' or 'queued'.
 */
export function messageItem(message, authorName, state = '') {
  const li = el('li', 'message');
  if (message.id) li.dataset.id = message.id;
  if (message.seq != null) li.dataset.seq = String(message.seq);
  li.dataset.clientId = message.client_message_id || '';
  li.dataset.userId = message.creator_id;
  const avatar = el('span', 'avatar');
  avatar.setAttribute('aria-hidden', 'true');
  fillAvatar(avatar, message.creator_id, authorName);
  const meta = el('div', 'meta');
  const author = el('span', 'author', authorName);
  author.dataset.userId = message.creator_id;
  author.title = authorName;
  meta.append(author);
  if (message.created_at) {
    const time = el('time', null, formatTime(message.created_at));
    time.dateTime = message.created_at;
    time.title = fullTime(message.created_at);
    meta.append(time);
  }
  meta.append(el('span', 'state'));
  const content = el('div', 'content');
  const file = message.attachment;
  // Without a caption the server sends the file name as content: the file part shows it.
  if (!file || message.content !== file.filename) {
    content.append(renderContent(message.content, message.mentions));
    content.classList.toggle('emoji-only', isEmojiOnly(message.content));
  }
  li.append(avatar, meta, content);
  if (file) li.append(attachmentView(file));
  setPending(li, state);
  for (const hook of itemHooks) hook(li, message);
  return li;
}

const itemHooks = [];
/** Call `hook(li, message)` on every message item built (to add actions, boosts, marks). */
export function onMessageItem(hook) {
  itemHooks.push(hook);
}

/** Mark a message item as sending / queued, or stored (''). */
export function setPending(li, state) {
  li.classList.toggle('pending', Boolean(state));
  const label = { sending: 'Sending…', queued: 'Queued: sends when the connection is back' }[state];
  li.querySelector('.state').textContent = label || '';
}

/** "Ann is typing…", "Ann and Bob are typing…", "Several people are typing…". */
export function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return 'Several people are typing…';
}
