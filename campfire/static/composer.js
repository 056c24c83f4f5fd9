// The composer: drafts kept per room, typing notifications, sending, and the outbox of
// messages not yet stored by the server (kept in localStorage, per user, across reloads).
import { failed } from './auth.js';
import { dispatch, on } from './events.js';
import { decorate, pendingState, scrollToBottom } from './messages.js';
import { messageItem } from './render.js';
import { createDraftDirect } from './rooms.js';
import { $, loadSaved, save, showNotice, state, uuid4 } from './state.js';

const TYPING_REPEAT_MS = 3000;
export const MAX_CONTENT_CHARS = 10000; // the server counts code points: an emoji is one

/** Whether `text` fits in a message (a caption, an edit: `what` says which); if not, say so. */
export function fitsMessage(text, what = 'A message') {
  const length = [...text].length;
  if (length <= MAX_CONTENT_CHARS) return true;
  showNotice(`${what} can be at most ${MAX_CONTENT_CHARS} characters; this one has ${length}.`);
  return false;
}
let draftKey = null; // the room (or draft conversation) whose text is in the box
let drafts = {}; // draftKey -> text

function autosize() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

/** Put the saved draft of this room (or draft conversation) in the box. */
export function restoreDraft(key) {
  draftKey = key;
  $('composer-input').value = drafts[key] || '';
  autosize();
}

function saveDraft() {
  const text = $('composer-input').value;
  if (!draftKey) return;
  if (text) drafts[draftKey] = text;
  else delete drafts[draftKey];
  save('drafts', drafts);
}

function onComposerInput() {
  autosize();
  saveDraft();
  const input = $('composer-input');
  if (!input.value.trim()) return stopTyping();
  if (Date.now() - state.typingSentAt < TYPING_REPEAT_MS || !state.currentId) return;
  if (state.socket.send({ type: 'StartTyping', room_id: state.currentId })) {
    state.typingSentAt = Date.now();
  }
}

/** Tell the room this user stopped typing (if they were). */
export function stopTyping() {
  if (state.typingSentAt && state.currentId) {
    state.socket.send({ type: 'StopTyping', room_id: state.currentId });
  }
  state.typingSentAt = 0;
}

function onComposerKey(event) {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    sendComposer();
  } else if (event.key === 'ArrowUp' && !event.altKey && !$('composer-input').value) {
    // Hook for editing: a module that handles 'compose-up' (edit your last message) takes it.
    if (dispatch({ type: 'compose-up', roomId: state.currentId })) event.preventDefault();
  }
}

async function sendComposer(event) {
  if (event) event.preventDefault();
  const input = $('composer-input');
  const content = input.value;
  if (!content.trim() || (!state.currentId && !state.draftDirect)) return;
  if (!fitsMessage(content)) return;
  if (!state.currentId) {
    // The first message to someone creates the conversation.
    try {
      await createDraftDirect();
    } catch (err) {
      return failed(err, 'Could not start the conversation');
    }
    input.value = content; // opening the new room restored its (empty) draft
  }
  stopTyping();
  const message = {
    room_id: state.currentId, content, client_message_id: uuid4(),
    creator_id: state.me.id, created_at: new Date().toISOString(),
  };
  queue(message);
  $('messages').append(messageItem(message, state.me.name, pendingState()));
  decorate();
  $('empty-room').hidden = true;
  scrollToBottom();
  input.value = '';
  saveDraft();
  autosize();
}

/** Keep a message until the server stores it; send it now or when the connection is back. */
function queue(message) {
  state.pending.set(message.client_message_id, message);
  save('outbox', [...state.pending.values()]);
  state.socket.sendMessage({
    type: 'CreateMessage', room_id: message.room_id, content: message.content,
    client_message_id: message.client_message_id,
  });
}

/** After sign-in: bring back this user's drafts and unsent messages (sent once connected). */
export function restoreSaved() {
  drafts = loadSaved('drafts', {});
  for (const message of loadSaved('outbox', [])) {
    if (message && message.client_message_id && message.room_id) queue(message);
  }
}

on('NewMessage', ({ message }) => {
  if (message.creator_id !== state.me.id) return;
  state.socket.acknowledge(message.client_message_id); // stored: stop resending it
  if (state.pending.delete(message.client_message_id)) save('outbox', [...state.pending.values()]);
});

/** Wire the composer's form and textarea, and the warning before closing with unsent messages. */
export function wireComposer() {
  $('composer').addEventListener('submit', sendComposer);
  const input = $('composer-input');
  input.addEventListener('keydown', onComposerKey);
  input.addEventListener('input', onComposerInput);
  input.addEventListener('blur', stopTyping);
  $('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    if (!input.disabled) input.focus();
  });
  window.addEventListener('beforeunload', (event) => {
    if (!state.pending.size || state.leaving) return; // signing out: the outbox is saved
    event.preventDefault();
    event.returnValue = ''; // older browsers need it set to show the prompt
  });
}
