// Search: the box in the top bar ("/" focuses it), the results (room, author, time, the matched
// words highlighted), more results, all rooms or this room, and opening a result: its room at
// that message, with the history around it.
import * as api from './api.js';
import { avatarFor } from './avatars.js';
import { reloadView } from './messages.js';
import { nameOf } from './people.js';
import { el, formatTime, fullTime } from './render.js';
import { openRoom, roomName } from './rooms.js';
import { $, state } from './state.js';

const PAGE = 20;
const MARK_START = '\uE000'; // the server wraps each matched word in these two characters
const MARK_END = '\uE001';
let query = null; // {q, roomId, next, hasMore}: what the shown results answer
let searching = false;

/** A snippet as DOM: its text as text, the words between the markers in <mark>. */
export function snippetNodes(snippet) {
  const fragment = document.createDocumentFragment();
  let mark = null;
  let text = '';
  const flush = () => {
    if (!text) return;
    (mark || fragment).append(text);
    text = '';
  };
  for (const ch of snippet) {
    if (ch === MARK_START && !mark) {
      flush();
      mark = el('mark');
    } else if (ch === MARK_END && mark) {
      flush();
      fragment.append(mark);
      mark = null;
    } else if (ch !== MARK_START && ch !== MARK_END) {
      text += ch;
    }
  }
  flush();
  if (mark) fragment.append(mark);
  return fragment;
}

function resultItem({ message, snippet }) {
  const room = state.rooms.get(message.room_id);
  const li = el('li', 'search-result');
  const button = el('button', 'search-open');
  button.type = 'button';
  const author = nameOf(message.creator_id);
  const where = room ? roomName(room) : 'a room you left';
  const head = el('span', 'search-meta');
  const time = el('time', null, formatTime(message.created_at));
  time.dateTime = message.created_at;
  time.title = fullTime(message.created_at);
  head.append(el('span', 'search-room', `${room && room.room_type !== 'direct' ? '#' : ''}${where}`),
    el('span', 'search-author', author), time);
  const text = el('span', 'search-snippet');
  text.append(snippetNodes(snippet || message.content));
  button.append(avatarFor(message.creator_id, author, 'avatar avatar-small'), head, text);
  button.addEventListener('click', () => openResult(message));
  li.append(button);
  return li;
}

/** Open a result: its room, at that message, with the history around it. */
async function openResult(message) {
  closePanel(false);
  if (state.currentId === message.room_id && state.view) await reloadView(message.seq);
  else await openRoom(message.room_id, message.seq);
}

function scopeRoom() {
  return $('search-scope').value === 'room' ? state.currentId : null;
}

/** Run a new search for the box's words (or show more of the current one). */
async function run(more = false) {
  const q = $('search-input').value.trim();
  if (!q || searching) return;
  if (!more) query = { q, roomId: scopeRoom(), next: null, hasMore: false };
  const current = query;
  searching = true;
  openPanel();
  const status = $('search-status');
  status.textContent = 'Searching…';
  $('search-more').hidden = true;
  if (!more) $('search-results').replaceChildren();
  try {
    const page = await api.search({ q: current.q, roomId: current.roomId, before: current.next, limit: PAGE });
    if (query !== current) return;
    $('search-results').append(...page.results.map(resultItem));
    current.next = page.next_before;
    current.hasMore = page.has_more;
    const shown = $('search-results').children.length;
    const where = current.roomId ? 'in this room' : 'in your rooms';
    status.textContent = shown
      ? `${shown}${current.hasMore ? '+' : ''} message${shown === 1 && !current.hasMore ? '' : 's'} ${where} match “${current.q}”.`
      : `Nothing ${where} matches “${current.q}”.`;
    $('search-more').hidden = !current.hasMore;
  } catch (err) {
    status.textContent = `Search failed: ${err.message}`;
  } finally {
    searching = false;
  }
}

function openPanel() {
  $('search-panel').hidden = false;
  $('search-scope').querySelector('[value="room"]').disabled = !state.currentId;
}

function closePanel(refocus = true) {
  $('search-panel').hidden = true;
  if (refocus) $('search-input').focus();
}

/** Whether a key press happens while the person is typing somewhere. */
function typing(target) {
  return target.closest && Boolean(target.closest('input, textarea, select, [contenteditable], dialog'));
}

/** Wire the search box, "/" to focus it, the panel's scope, More and Close. */
export function wireSearch() {
  $('search-form').addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  $('search-input').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      if (!$('search-panel').hidden) closePanel();
      else $('search-input').blur();
    } else if (event.key === 'ArrowDown' && !$('search-panel').hidden) {
      event.preventDefault();
      $('search-results').querySelector('button')?.focus();
    }
  });
  $('search-input').addEventListener('focus', () => {
    if (query && query.q === $('search-input').value.trim()) openPanel(); // the last results
  });
  $('search-scope').addEventListener('change', () => run());
  $('search-more').addEventListener('click', () => run(true));
  $('search-close').addEventListener('click', () => closePanel());
  $('search-panel').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      closePanel();
    }
  });
  document.addEventListener('keydown', (event) => {
    if (event.key !== '/' || event.ctrlKey || event.metaKey || event.altKey) return;
    if (!state.me || $('chat-view').hidden || typing(event.target)) return;
    event.preventDefault();
    $('search-input').focus();
    $('search-input').select();
  });
}
