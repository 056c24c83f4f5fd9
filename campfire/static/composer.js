// The composer: typing notifications, Enter to send, and the pending message shown at once.
import { messageItem } from './render.js';
import { pendingState, scrollToBottom } from './messages.js';
import { $, showNotice, state, uuid4 } from './state.js';

const TYPING_REPEAT_MS = 3000;
const MAX_CONTENT_CHARS = 10000;

function autosize() {
  const input = $('composer-input');
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight + 2, 160)}px`;
}

function onComposerInput() {
  autosize();
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
  }
}

function sendComposer(event) {
  if (event) event.preventDefault();
  const input = $('composer-input');
  const content = input.value;
  const roomId = state.currentId;
  if (!roomId || !content.trim()) return;
  if (content.length > MAX_CONTENT_CHARS) {
    showNotice(`A message can be at most ${MAX_CONTENT_CHARS} characters.`);
    return;
  }
  stopTyping();
  const message = {
    room_id: roomId, content, client_message_id: uuid4(),
    creator_id: state.me.id, created_at: new Date().toISOString(),
  };
  state.pending.set(message.client_message_id, message);
  $('messages').append(messageItem(message, state.me.name, pendingState()));
  $('empty-room').hidden = true;
  scrollToBottom();
  state.socket.sendMessage({
    type: 'CreateMessage', room_id: roomId, content, client_message_id: message.client_message_id,
  });
  input.value = '';
  autosize();
}

/** Wire the composer's form and textarea. */
export function wireComposer() {
  $('composer').addEventListener('submit', sendComposer);
  const input = $('composer-input');
  input.addEventListener('keydown', onComposerKey);
  input.addEventListener('input', onComposerInput);
  input.addEventListener('blur', stopTyping);
}
