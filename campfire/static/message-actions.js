// Messages that live: the actions on a message (boost, edit, delete), its boosts, "(edited)",
// the mark on a message that mentions you, and the changes others make, live and caught up.
import * as api from './api.js';
import { failed } from './auth.js';
import { fitsMessage } from './composer.js';
import { on } from './events.js';
import { isEmojiOnly, renderContent } from './markdown.js';
import { decorate, isNearBottom, loadLatest, newView, scrollToBottom } from './messages.js';
import { nameOf } from './people.js';
import { el, fullTime, onMessageItem } from './render.js';
import { $, showNotice, state } from './state.js';

const QUICK_BOOSTS = ['👍', '❤️', '😂', '🎉', '🙏', '👀', '🔥', '✅'];
const MAX_BOOST_CHARS = 16; // the server counts code points, as here
const records = new WeakMap(); // message item -> {message, boosts: Map(id -> boost), editSeq}
let removedBoosts = new Set(); // boost ids known to be gone: a late BoostAdded stays gone
let editing = null; // {li, form, fromComposer} while a message is being edited
let picker = null; // the boost picker element, built once

/** The shown item of a stored message, or null. */
function itemOf(messageId) {
  return $('messages').querySelector(`li.message[data-id="${CSS.escape(messageId)}"]`);
}

/** True when the signed-in user may delete others' messages in the open room. */
function managesRoom() {
  const room = state.view && state.rooms.get(state.view.roomId);
  return Boolean(state.me.is_admin || (room && room.creator_id === state.me.id));
}

/** A stored message's item gets its record, its marks, its boosts and its actions. */
onMessageItem((li, message) => {
  li.classList.toggle('mentions-me', (message.mentions || []).includes(state.me.id));
  if (!message.id) return; // not stored yet: nothing to act on
  const boosts = new Map((message.boosts || []).map((b) => [b.id, b]));
  records.set(li, { message, boosts, editSeq: 0 });
  renderEdited(li, message);
  li.append(actionsBar(li, message));
  renderBoosts(li);
});

/** Redraw a message's content after an edit (its Markdown, mentions, size, "(edited)"). */
function renderBody(li, message) {
  const content = li.querySelector('.content');
  content.replaceChildren(renderContent(message.content, message.mentions));
  content.classList.toggle('emoji-only', isEmojiOnly(message.content));
  li.classList.toggle('mentions-me', (message.mentions || []).includes(state.me.id));
  renderEdited(li, message);
}

/** "(edited)" after edited content, with the time of the edit on hover. */
function renderEdited(li, message) {
  li.querySelector('.edited')?.remove();
  if (!message.edited_at) return;
  const mark = el('span', 'edited', '(edited)');
  mark.title = `Edited ${fullTime(message.edited_at)}`;
  const content = li.querySelector('.content');
  const last = content.lastElementChild;
  // Inside the last paragraph it reads as part of the text; after a code block, on its own.
  if (last && last.tagName === 'P') last.append(' ', mark);
  else content.append(mark);
}

/** The toolbar shown on hover, focus or tap: boost, and edit and delete where allowed. */
function actionsBar(li, message) {
  const bar = el('div', 'actions');
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Message actions');
  const mine = message.creator_id === state.me.id;
  bar.append(actionButton('boost', '☺+', 'Boost', () => openPicker(li)));
  if (mine) bar.append(actionButton('edit', '✎', 'Edit', () => startEdit(li)));
  if (mine || managesRoom()) bar.append(actionButton('delete', '🗑', 'Delete', () => confirmDelete(li)));
  return bar;
}

function actionButton(name, icon, label, onClick) {
  const button = el('button', `action action-${name}`, icon);
  button.type = 'button';
  button.title = label;
  button.setAttribute('aria-label', label);
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    onClick();
  });
  return button;
}

// ---- Boosts -------------------------------------------------------------------------------

/** The boosts under a message, grouped by content in the order each was first given. */
function renderBoosts(li) {
  const record = records.get(li);
  li.querySelector('.boosts')?.remove();
  if (!record.boosts.size) return;
  const groups = new Map(); // content -> [boost]
  const sorted = [...record.boosts.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
  for (const boost of sorted) {
    if (!groups.has(boost.content)) groups.set(boost.content, []);
    groups.get(boost.content).push(boost);
  }
  const row = el('div', 'boosts');
  for (const [content, boosts] of groups) row.append(boostButton(li, content, boosts));
  li.querySelector('.actions').before(row);
}

/** One group: "🎉 2"; who gave it on hover; a click takes back yours or adds yours. */
function boostButton(li, content, boosts) {
  const mine = boosts.find((b) => b.booster_id === state.me.id);
  const names = boosts.map((b) => (b.booster_id === state.me.id ? 'you' : nameOf(b.booster_id)));
  const button = el('button', 'boost');
  button.type = 'button';
  button.append(el('span', 'boost-content', content), el('span', 'boost-count', String(boosts.length)));
  button.setAttribute('aria-pressed', String(Boolean(mine)));
  button.title = `${content} from ${listing(names)}`;
  button.setAttribute('aria-label', `${content} from ${listing(names)}${mine ? ': remove yours' : ': add yours'}`);
  button.addEventListener('click', (event) => {
    event.stopPropagation();
    if (mine) removeBoost(li, mine);
    else boost(li, content);
  });
  return button;
}

/** "Ann", "Ann and Bob", "Ann, Bob and Cat". */
function listing(names) {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

async function boost(li, content) {
  const id = li.dataset.id;
  try {
    const { boost: added } = await api.addBoost(id, content);
    applyBoostAdded(added);
  } catch (err) {
    failed(err, 'Could not boost');
  }
}

async function removeBoost(li, boostRecord) {
  try {
    await api.removeBoost(li.dataset.id, boostRecord.id);
    applyBoostRemoved(boostRecord.message_id, boostRecord.id);
  } catch (err) {
    if (err.status === 404) applyBoostRemoved(boostRecord.message_id, boostRecord.id);
    else failed(err, 'Could not remove the boost');
  }
}

function applyBoostAdded(boostRecord) {
  if (removedBoosts.has(boostRecord.id)) return;
  const li = itemOf(boostRecord.message_id);
  if (!li || !records.has(li)) return; // not on screen: history shows it when loaded
  const follow = isNearBottom();
  records.get(li).boosts.set(boostRecord.id, boostRecord);
  renderBoosts(li);
  if (follow) scrollToBottom();
}

function applyBoostRemoved(messageId, boostId) {
  removedBoosts.add(boostId);
  const li = itemOf(messageId);
  if (!li || !records.has(li)) return;
  if (records.get(li).boosts.delete(boostId)) renderBoosts(li);
}

/** The boost picker: a few quick emoji, or any word of up to 16 characters. */
function openPicker(li) {
  closePicker();
  picker ??= buildPicker();
  picker.messageItem = li;
  picker.querySelector('.boost-error').textContent = '';
  picker.querySelector('input').value = '';
  li.append(picker);
  li.classList.add('picking');
  picker.hidden = false;
  // Near the bottom of the list it opens upwards, so the list's edge does not cut it.
  picker.classList.remove('above');
  const room = $('scroller').getBoundingClientRect();
  const spot = li.getBoundingClientRect();
  const below = room.bottom - spot.top;
  if (below < picker.offsetHeight + 40 && spot.top - room.top > below) picker.classList.add('above');
  picker.querySelector('.quick-boost').focus();
}

function closePicker(returnFocus = false) {
  if (!picker || picker.hidden) return;
  const li = picker.messageItem;
  picker.hidden = true;
  li.classList.remove('picking');
  picker.remove();
  if (returnFocus) li.querySelector('.action-boost')?.focus();
}

function buildPicker() {
  const form = el('form', 'boost-picker');
  form.setAttribute('role', 'dialog');
  form.setAttribute('aria-label', 'Boost this message');
  const quick = el('div', 'quick-boosts');
  for (const emoji of QUICK_BOOSTS) {
    const button = el('button', 'quick-boost', emoji);
    button.type = 'button';
    button.setAttribute('aria-label', `Boost with ${emoji}`);
    button.addEventListener('click', () => pick(emoji));
    quick.append(button);
  }
  const input = el('input');
  input.setAttribute('aria-label', 'Boost with a word or emoji');
  input.placeholder = 'or type a word';
  input.autocomplete = 'off';
  const submit = el('button', 'small-button', 'Boost');
  submit.type = 'submit';
  const error = el('p', 'boost-error');
  error.setAttribute('role', 'alert');
  const row = el('div', 'boost-word');
  row.append(input, submit);
  form.append(quick, row, error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const word = input.value.trim();
    const length = [...word].length;
    if (!length) error.textContent = 'Type an emoji or a word.';
    else if (length > MAX_BOOST_CHARS) error.textContent = `A boost is at most ${MAX_BOOST_CHARS} characters.`;
    else pick(word);
  });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      closePicker(true);
    }
  });
  form.addEventListener('click', (event) => event.stopPropagation());
  return form;
}

function pick(content) {
  const li = picker.messageItem;
  closePicker(true);
  boost(li, content);
}

// ---- Editing ------------------------------------------------------------------------------

/** Turn a message of one's own into a box: Enter saves, Shift+Enter a new line, Esc cancels. */
function startEdit(li, fromComposer = false) {
  if (editing) cancelEdit();
  closePicker();
  const record = records.get(li);
  if (!record) return;
  const form = el('form', 'edit-form');
  const box = el('textarea', 'edit-box');
  box.value = record.message.content;
  box.rows = 1;
  box.setAttribute('aria-label', 'Edit message');
  const save = el('button', 'primary compact', 'Save');
  save.type = 'submit';
  const cancel = el('button', 'small-button', 'Cancel');
  cancel.type = 'button';
  const hint = el('span', 'edit-hint muted', 'Enter saves · Esc cancels');
  const row = el('div', 'edit-row');
  row.append(hint, cancel, save);
  form.append(box, row);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    saveEdit();
  });
  form.addEventListener('click', (event) => event.stopPropagation());
  cancel.addEventListener('click', () => cancelEdit());
  box.addEventListener('input', () => fitHeight(box));
  box.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      saveEdit();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      event.stopPropagation();
      cancelEdit();
    }
  });
  li.classList.add('editing');
  li.querySelector('.content').after(form);
  editing = { li, form, fromComposer };
  fitHeight(box);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
  form.scrollIntoView({ block: 'nearest' });
}

/** Grow the edit box with its text, up to a third of the window (then it scrolls). */
function fitHeight(box) {
  box.style.height = 'auto';
  box.style.height = `${Math.min(box.scrollHeight + 2, window.innerHeight / 3)}px`;
}

/** Leave edit mode; focus goes back where the edit started. */
function cancelEdit() {
  if (!editing) return;
  const { li, form, fromComposer } = editing;
  editing = null;
  form.remove();
  li.classList.remove('editing');
  if (fromComposer || !li.isConnected) $('composer-input').focus();
  else li.querySelector('.action-edit')?.focus();
}

async function saveEdit() {
  const { li, form } = editing;
  const content = form.querySelector('textarea').value;
  const record = records.get(li);
  if (content === record.message.content) return cancelEdit();
  if (!content.trim()) {
    showNotice('A message cannot be empty: delete it instead.');
    return;
  }
  if (!fitsMessage(content)) return;
  form.querySelector('button[type=submit]').disabled = true;
  try {
    const answer = await api.editMessage(li.dataset.id, content);
    applyUpdate(answer.message, answer.change_seq);
    if (editing && editing.li === li) cancelEdit();
  } catch (err) {
    if (err.status === 404) applyDeleted(li.dataset.id, state.view?.roomId);
    failed(err, 'Could not save the edit');
    form.querySelector('button[type=submit]').disabled = false;
  }
}

function applyUpdate(message, changeSeq) {
  const li = itemOf(message.id);
  if (!li || !records.has(li) || changeSeq == null) return; // not loaded, or nothing changed
  const record = records.get(li);
  if (changeSeq <= record.editSeq) return; // an older edit, arriving after a newer one
  const follow = isNearBottom();
  record.editSeq = changeSeq;
  record.message = { ...record.message, ...message };
  renderBody(li, record.message);
  if (follow) scrollToBottom();
}

// ---- Deleting -----------------------------------------------------------------------------

let confirmDialog = null;
/** Ask before deleting (a modal dialog: Esc or Cancel keeps the message). */
function confirmDelete(li) {
  closePicker();
  confirmDialog ??= buildConfirm();
  const record = records.get(li);
  const mine = record.message.creator_id === state.me.id;
  confirmDialog.querySelector('.confirm-title').textContent = mine
    ? 'Delete this message?'
    : `Delete this message by ${nameOf(record.message.creator_id)}?`;
  const preview = [...record.message.content].slice(0, 200).join('');
  confirmDialog.querySelector('.confirm-preview').textContent = preview;
  confirmDialog.messageItem = li;
  confirmDialog.showModal();
  confirmDialog.querySelector('.cancel').focus();
}

function buildConfirm() {
  const dialog = el('dialog', 'confirm-dialog');
  dialog.setAttribute('aria-labelledby', 'confirm-delete-title');
  const title = el('h2', 'confirm-title');
  title.id = 'confirm-delete-title';
  const preview = el('p', 'confirm-preview');
  const note = el('p', 'muted', 'Everyone in the room will stop seeing it. This cannot be undone.');
  const cancel = el('button', 'small-button cancel', 'Cancel');
  cancel.type = 'button';
  const remove = el('button', 'danger', 'Delete');
  remove.type = 'button';
  const row = el('div', 'confirm-row');
  row.append(cancel, remove);
  dialog.append(title, preview, note, row);
  cancel.addEventListener('click', () => dialog.close());
  remove.addEventListener('click', () => {
    dialog.close();
    deleteMessage(dialog.messageItem);
  });
  document.body.append(dialog);
  return dialog;
}

async function deleteMessage(li) {
  const id = li.dataset.id;
  const roomId = state.view?.roomId;
  try {
    await api.deleteMessage(id);
    applyDeleted(id, roomId);
  } catch (err) {
    if (err.status === 404) applyDeleted(id, roomId); // gone already
    else failed(err, 'Could not delete the message');
  }
  $('composer-input').focus();
}

function applyDeleted(messageId, roomId) {
  const view = state.view;
  if (!view || view.roomId !== roomId) return;
  const li = itemOf(messageId);
  if (!li) return; // not on screen: nothing to take away
  if (editing && editing.li === li) cancelEdit();
  if (picker && picker.messageItem === li) closePicker();
  li.remove(); // its id stays in view.ids: a late copy of the message is not shown again
  if (view.newestId === messageId) {
    // The last-seen mark must name a message that exists.
    const newest = [...$('messages').querySelectorAll('li.message[data-id]:not(.pending)')].at(-1);
    view.newestId = newest ? newest.dataset.id : null;
    view.newestSeq = newest ? Number(newest.dataset.seq) : view.newestSeq;
  }
  decorate();
}

// ---- Changes from the server, live and caught up ------------------------------------------

on('MessageUpdated', ({ message, change_seq: changeSeq }) => applyUpdate(message, changeSeq));
on('MessageDeleted', ({ message_id: id, room_id: roomId }) => applyDeleted(id, roomId));
on('BoostAdded', ({ boost: added }) => applyBoostAdded(added));
on('BoostRemoved', ({ message_id: id, boost_id: boostId }) => applyBoostRemoved(id, boostId));

let stale = false; // the open room had more missed changes than the catch-up sent
on('MissedMessagesTruncated', (event) => {
  if (event.changes_truncated && state.view && event.room_id === state.view.roomId) stale = true;
});
on('ready', () => {
  if (!stale || !state.view) return;
  stale = false;
  // Messages shown may have changed in ways we were not told: read the room again.
  state.view = newView(state.view.roomId);
  $('messages').replaceChildren();
  loadLatest(state.view);
});
on('room-opened', () => {
  if (editing) cancelEdit();
  closePicker();
  removedBoosts = new Set();
});

// Up arrow in an empty composer edits your newest message in the room.
on('compose-up', () => {
  const own = [...$('messages').querySelectorAll(`li.message[data-id]:not(.pending)`)]
    .filter((li) => li.dataset.userId === state.me.id);
  if (own.length) startEdit(own.at(-1), true);
});

/** Wire taps (a tap on a message shows its actions) and closing the picker by clicking away. */
export function wireMessageActions() {
  $('messages').addEventListener('click', (event) => {
    const li = event.target.closest('li.message');
    for (const open of $('messages').querySelectorAll('li.actions-open')) {
      if (open !== li) open.classList.remove('actions-open');
    }
    if (event.target.closest('a, button, input, textarea, form')) return;
    if (li && records.has(li)) li.classList.toggle('actions-open');
  });
  document.addEventListener('click', (event) => {
    if (picker && !picker.hidden && !picker.contains(event.target)) closePicker();
  });
}
