// Attachments: sending a file (the composer's picker, drag and drop onto the room, or pasting a
// picture) with a progress bar and a Cancel button; showing a message's file (a picture's
// thumbnail that opens the lightbox, a video player, or a download link with name, type, size).
import { failed } from './auth.js';
import { fitsMessage } from './composer.js'; // a caption follows a message's rules
import { on } from './events.js';
import { decorate, insertMessage, isNearBottom, scrollToBottom } from './messages.js';
import { el, messageItem } from './render.js';
import { createDraftDirect } from './rooms.js';
import { $, showNotice, state, uuid4 } from './state.js';
import { formatBytes, localPath, sendForm, uploadErrorText } from './upload.js';

const THUMB_BOX = [360, 270]; // the largest a picture shows in the list (CSS px)
const TYPE_NAMES = {
  'application/pdf': 'PDF', 'application/zip': 'ZIP archive', 'text/plain': 'Text',
  'application/octet-stream': 'File',
};
const uploads = new Map(); // client_message_id -> {roomId, li}: uploads under way or failed

// Showing a message's file.

/** A file's kind for people: "PDF", "PNG image", "DOCX", or its MIME type. */
export function typeName(attachment) {
  const type = attachment.content_type || '';
  if (TYPE_NAMES[type] && type !== 'application/octet-stream') return TYPE_NAMES[type];
  const [major, minor] = type.split('/');
  if ((major === 'image' || major === 'video') && minor) return `${minor.toUpperCase()} ${major}`;
  const ext = /\.([a-z0-9]{1,6})$/i.exec(attachment.filename || '');
  return ext ? ext[1].toUpperCase() : TYPE_NAMES[type] || type || 'File';
}

/** The file part of a message: picture thumbnail, video player, or download link. */
export function attachmentView(attachment) {
  const box = el('div', 'attachment');
  const url = localPath(attachment.url);
  if (!url) return box;
  const thumbnail = localPath(attachment.thumbnail_url);
  const type = attachment.content_type || '';
  if (thumbnail && type.startsWith('image/')) {
    box.append(pictureButton(attachment, thumbnail));
  } else if (type.startsWith('video/')) {
    const video = el('video', 'attachment-video');
    video.controls = true;
    video.preload = 'metadata';
    video.src = url;
    video.setAttribute('aria-label', attachment.filename);
    box.append(video, fileLink(attachment, url));
  } else {
    box.append(fileLink(attachment, url));
  }
  return box;
}

/** A picture's thumbnail as a button that opens it whole in the lightbox. */
function pictureButton(attachment, thumbnail) {
  const button = el('button', 'attachment-image');
  button.type = 'button';
  button.setAttribute('aria-label', `Open picture ${attachment.filename}`);
  const img = el('img');
  img.alt = attachment.filename;
  img.loading = 'lazy';
  img.src = thumbnail;
  const { width, height } = attachment;
  if (width > 0 && height > 0) {
    // Its size is known before it loads, so nothing moves when it does (or when scrolled to).
    const scale = Math.min(1, THUMB_BOX[0] / width, THUMB_BOX[1] / height);
    img.width = Math.max(1, Math.round(width * scale));
    img.height = Math.max(1, Math.round(height * scale));
  }
  button.append(img);
  button.addEventListener('click', () => openLightbox(attachment, button));
  return button;
}

/** A download link: the file's name, kind and size. */
function fileLink(attachment, url) {
  const link = el('a', 'attachment-file');
  link.href = url;
  link.download = attachment.filename;
  link.title = `Download ${attachment.filename}`;
  const icon = el('span', 'attachment-icon', '⤓');
  icon.setAttribute('aria-hidden', 'true');
  const text = el('span', 'attachment-text');
  text.append(el('span', 'attachment-name', attachment.filename),
    el('span', 'attachment-meta', `${typeName(attachment)} · ${formatBytes(attachment.byte_size)}`));
  link.append(icon, text);
  return link;
}

// The lightbox: the whole picture over the page; Escape, the Close button or a click closes it.

let lightboxOpener = null;

function lightbox() {
  let dialog = $('lightbox');
  if (dialog) return dialog;
  dialog = el('dialog', 'lightbox');
  dialog.id = 'lightbox';
  dialog.setAttribute('aria-labelledby', 'lightbox-name');
  const figure = el('figure');
  const img = el('img', 'lightbox-image');
  img.id = 'lightbox-image';
  const caption = el('figcaption');
  const name = el('span', 'lightbox-name');
  name.id = 'lightbox-name';
  const download = el('a', 'small-button', 'Download');
  download.id = 'lightbox-download';
  const close = el('button', 'small-button', 'Close');
  close.type = 'button';
  close.id = 'lightbox-close';
  caption.append(name, download, close);
  figure.append(img, caption);
  dialog.append(figure);
  close.addEventListener('click', () => dialog.close());
  img.addEventListener('click', () => dialog.close());
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog || event.target === figure) dialog.close(); // the backdrop
  });
  dialog.addEventListener('close', () => {
    $('lightbox-image').removeAttribute('src');
    if (lightboxOpener && lightboxOpener.isConnected) lightboxOpener.focus();
  });
  document.body.append(dialog);
  return dialog;
}

/** Show a picture whole; focus returns to `opener` when it closes. */
export function openLightbox(attachment, opener = null) {
  const dialog = lightbox();
  const url = localPath(attachment.url);
  if (!url) return;
  lightboxOpener = opener;
  const img = $('lightbox-image');
  img.alt = attachment.filename;
  img.src = url;
  $('lightbox-name').textContent = `${attachment.filename} · ${formatBytes(attachment.byte_size)}`;
  $('lightbox-download').href = url;
  $('lightbox-download').download = attachment.filename;
  if (!dialog.open) dialog.showModal();
  $('lightbox-close').focus();
}

// Sending files.

/** Send files to the open room (or start the draft conversation); the composer's text is the
 * first file's caption. */
export async function sendFiles(files) {
  const input = $('composer-input');
  if (!files.length || input.disabled || (!state.currentId && !state.draftDirect)) return;
  let caption = input.value.trim() ? input.value : '';
  if (!fitsMessage(caption, 'A caption')) return;
  if (!state.currentId) {
    try {
      await createDraftDirect();
    } catch (err) {
      return failed(err, 'Could not start the conversation');
    }
  }
  input.value = '';
  input.dispatchEvent(new Event('input')); // the composer saves the (now empty) draft, resizes
  for (const file of files) {
    upload(file, caption, state.currentId, uuid4());
    caption = ''; // several files at once: the text goes with the first
  }
}

/** Upload one file as a message, shown meanwhile as a pending item with progress and Cancel. */
function upload(file, caption, roomId, clientId) {
  const name = file.name || 'file';
  const message = { room_id: roomId, content: caption, client_message_id: clientId,
    creator_id: state.me.id, created_at: new Date().toISOString() };
  const li = messageItem(message, state.me.name, 'sending');
  li.classList.add('uploading');
  li.querySelector('.state').textContent = 'Uploading…';
  const bar = el('progress', 'upload-progress');
  bar.max = Math.max(1, file.size);
  bar.value = 0;
  bar.setAttribute('aria-label', `Uploading ${name}`);
  const text = el('span', 'upload-text', `${name} · 0 of ${formatBytes(file.size)}`);
  const cancel = el('button', 'small-button', 'Cancel');
  cancel.type = 'button';
  cancel.setAttribute('aria-label', `Cancel sending ${name}`);
  const box = el('div', 'upload');
  box.append(text, bar, cancel);
  li.append(box);

  const form = new FormData();
  form.append('client_message_id', clientId);
  if (caption) form.append('caption', caption);
  form.append('file', file, name);
  const job = sendForm('POST', `/api/rooms/${encodeURIComponent(roomId)}/attachments`, form,
    (sent, total) => {
      bar.max = total;
      bar.value = sent;
      text.textContent = `${name} · ${formatBytes(sent)} of ${formatBytes(total)}`;
    });
  cancel.addEventListener('click', () => job.abort());
  uploads.set(clientId, { roomId, li });
  if (state.view && state.view.roomId === roomId) {
    $('messages').append(li);
    $('empty-room').hidden = true;
    decorate();
    scrollToBottom();
  }
  job.done.then(({ message: stored }) => {
    uploads.delete(clientId);
    li.remove();
    const view = state.view;
    // The socket's echo usually came first; this covers a socket that is down.
    if (view && view.roomId === roomId && view.loaded && !view.hasNewer) {
      const follow = isNearBottom();
      if (insertMessage(stored)) decorate();
      if (follow) scrollToBottom();
    }
  }, (err) => {
    if (err.code === 'ABORTED') {
      uploads.delete(clientId);
      li.remove();
      decorate();
      showNotice(`Sending “${name}” was cancelled.`);
      return;
    }
    showFailure(li, uploadErrorText(err, name), () => {
      li.remove();
      upload(file, caption, roomId, clientId); // same client_message_id: never posted twice
    }, () => {
      uploads.delete(clientId);
      li.remove();
      decorate();
    });
  });
}

/** Turn a pending upload into a failed one: what went wrong, Try again and Dismiss. */
function showFailure(li, text, retry, dismiss) {
  li.classList.add('failed');
  li.querySelector('.state').textContent = 'Not sent';
  const box = li.querySelector('.upload');
  const message = el('span', 'upload-error', text);
  message.setAttribute('role', 'alert');
  const again = el('button', 'small-button', 'Try again');
  again.type = 'button';
  again.addEventListener('click', retry);
  const dismissButton = el('button', 'small-button', 'Dismiss');
  dismissButton.type = 'button';
  dismissButton.addEventListener('click', dismiss);
  box.replaceChildren(message, again, dismissButton);
}

// The page's other modules redraw the list and relabel pending items: keep uploads right.
on('room-opened', ({ roomId }) => {
  for (const upload of uploads.values()) {
    if (upload.roomId === roomId) $('messages').append(upload.li);
  }
});
on('status', () => {
  for (const upload of uploads.values()) {
    if (!upload.li.classList.contains('failed')) upload.li.querySelector('.state').textContent = 'Uploading…';
  }
});

/** Only files (not text or links) being dragged. */
function draggingFiles(event) {
  return [...(event.dataTransfer?.types || [])].includes('Files');
}

/** Wire the picker button, dropping files on the room, and pasting pictures. */
export function wireAttachments() {
  const picker = $('attach-file');
  $('attach').addEventListener('click', () => { if (!$('composer-input').disabled) picker.click(); });
  picker.addEventListener('change', () => {
    sendFiles([...picker.files]);
    picker.value = '';
  });

  const room = $('room-main');
  let depth = 0; // dragenter/dragleave fire for every child crossed
  const canDrop = () => !$('composer-input').disabled;
  room.addEventListener('dragenter', (event) => {
    if (!draggingFiles(event) || !canDrop()) return;
    event.preventDefault();
    depth += 1;
    room.classList.add('dropping');
  });
  room.addEventListener('dragover', (event) => {
    if (!draggingFiles(event) || !canDrop()) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = 'copy';
  });
  room.addEventListener('dragleave', () => {
    depth = Math.max(0, depth - 1);
    if (!depth) room.classList.remove('dropping');
  });
  room.addEventListener('drop', (event) => {
    depth = 0;
    room.classList.remove('dropping');
    if (!draggingFiles(event)) return;
    event.preventDefault();
    if (canDrop()) sendFiles([...event.dataTransfer.files]);
  });
  // A file dropped anywhere else must not replace the page with itself.
  document.addEventListener('dragover', (event) => { if (draggingFiles(event)) event.preventDefault(); });
  document.addEventListener('drop', (event) => { if (draggingFiles(event)) event.preventDefault(); });

  document.addEventListener('paste', (event) => {
    const data = event.clipboardData;
    if (!data || !data.files.length || $('chat-view').hidden) return;
    const target = event.target;
    // Another field (the search box, a form) keeps its own paste.
    if (target !== $('composer-input') && target.closest && target.closest('input, textarea, select, dialog')) return;
    if (data.types.includes('text/plain')) return; // text with a picture of it (a spreadsheet): paste the text
    event.preventDefault();
    sendFiles([...data.files]);
  });
}
