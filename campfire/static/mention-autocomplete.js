// The composer's @ autocomplete: typing "@an" lists the room's members whose name (or a word
// of it) starts with "an" (GET /api/rooms/{id}/members?query=an); ↑/↓ choose, Enter or Tab
// put "@Name " in the text, Esc closes. The server works out the mentions from the text.
import * as api from './api.js';
import { el } from './render.js';
import { $, state } from './state.js';

const TRIGGER = /(?:^|[\s([{"'])@([^\s@]{0,40})$/u; // an @ starting a word, up to the caret
const DEBOUNCE_MS = 120;
let list = null;
let items = []; // the members listed
let active = 0;
let start = -1; // where the @ is in the text
let asked = 0; // the number of the latest request: older answers are dropped
let timer = null;

/** Look at the text before the caret: an @word there asks for the matching members. */
function onInput() {
  const input = $('composer-input');
  const caret = input.selectionStart;
  const match = input.selectionEnd === caret && TRIGGER.exec(input.value.slice(0, caret));
  if (!match || !state.currentId) return close();
  start = caret - match[1].length - 1;
  const query = match[1];
  const roomId = state.currentId;
  const ticket = ++asked;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    let members;
    try {
      ({ members } = await api.members(roomId, query));
    } catch {
      return close(); // offline, say: typing goes on without suggestions
    }
    if (ticket !== asked || roomId !== state.currentId) return;
    show(members.filter((m) => m.is_active !== false && m.id !== state.me.id));
  }, DEBOUNCE_MS);
}

function show(members) {
  items = members;
  active = 0;
  if (!items.length) return close();
  list.replaceChildren(...items.map((member, i) => {
    const option = el('li', 'mention-option', member.name);
    option.id = `mention-option-${i}`;
    option.setAttribute('role', 'option');
    // mousedown, not click: the composer keeps its focus and caret.
    option.addEventListener('mousedown', (event) => {
      event.preventDefault();
      choose(i);
    });
    return option;
  }));
  list.hidden = false;
  highlight();
}

function highlight() {
  [...list.children].forEach((option, i) => option.setAttribute('aria-selected', String(i === active)));
  list.children[active]?.scrollIntoView({ block: 'nearest' });
  $('composer-input').setAttribute('aria-activedescendant', `mention-option-${active}`);
}

/** Close the list (and forget any answer still on its way). */
function close() {
  asked += 1;
  clearTimeout(timer);
  items = [];
  if (!list || list.hidden) return;
  list.hidden = true;
  list.replaceChildren();
  $('composer-input').removeAttribute('aria-activedescendant');
}

/** Put "@Name " in place of the typed "@an" and carry on typing after it. */
function choose(index) {
  const member = items[index];
  const input = $('composer-input');
  const caret = input.selectionStart;
  const text = `@${member.name} `;
  input.value = input.value.slice(0, start) + text + input.value.slice(caret);
  input.setSelectionRange(start + text.length, start + text.length);
  close();
  input.dispatchEvent(new Event('input', { bubbles: true })); // drafts, typing, size
}

/** Keys while the list is open; caught before the composer's own (Enter must not send). */
function onKey(event) {
  if (event.target.id !== 'composer-input' || !list || list.hidden) return;
  const step = { ArrowDown: 1, ArrowUp: -1 }[event.key];
  if (step) {
    active = (active + step + items.length) % items.length;
    highlight();
  } else if ((event.key === 'Enter' || event.key === 'Tab') && !event.shiftKey && !event.isComposing) {
    choose(active);
  } else if (event.key === 'Escape') {
    close();
  } else {
    return;
  }
  event.preventDefault();
  event.stopPropagation();
}

/** Build the list above the composer and listen to the box. */
export function wireMentionAutocomplete() {
  const input = $('composer-input');
  list = el('ul', 'mention-list');
  list.id = 'mention-list';
  list.hidden = true;
  list.setAttribute('role', 'listbox');
  list.setAttribute('aria-label', 'People to mention');
  $('composer').prepend(list); // shown above the box (see app.css)
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', 'mention-list');
  input.addEventListener('input', onInput);
  input.addEventListener('click', onInput);
  input.addEventListener('blur', () => close());
  $('composer').addEventListener('keydown', onKey, true); // capture: before the composer's
}
