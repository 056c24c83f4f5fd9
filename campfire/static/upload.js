// Sending a file with progress, and what an upload's failure means in plain words. Uploads use
// XMLHttpRequest: it reports upload progress in every browser (fetch does not) and can abort.
import { ApiError } from './api.js';

/** "512 bytes", "14.2 KB", "3.4 MB", "1.1 GB" (1 KB = 1024 bytes, as the server counts). */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = -1;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const text = value >= 100 ? String(Math.round(value)) : String(Number(value.toFixed(1))); // 2, not 2.0
  return `${text} ${units[unit]}`;
}

/**
 * Send a multipart form with the session cookie. Returns {done, abort}: `done` resolves to the
 * JSON answer or rejects with an ApiError (code 'ABORTED' after abort(), 'NETWORK' when the
 * connection failed); `onProgress(sent, total)` follows the upload.
 */
export function sendForm(method, url, form, onProgress = () => {}) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open(method, url);
    xhr.responseType = 'json';
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr.response);
      const error = (xhr.response && xhr.response.error) || {};
      const err = new ApiError(xhr.status, error.code || `HTTP_${xhr.status}`,
        error.message || `Upload failed (${xhr.status})`);
      err.retryAfter = Number(xhr.getResponseHeader('Retry-After')) || null;
      reject(err);
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'NETWORK', 'Cannot reach the server')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'ABORTED', 'Cancelled')));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

/** The limit named in a 413's message ("... the limit of 104,857,600 bytes"), as "100 MB". */
function limitOf(message) {
  const match = /([\d,]+) bytes/.exec(message || '');
  return match ? formatBytes(Number(match[1].replace(/,/g, ''))) : null;
}

/** Why the upload of the file called `name` failed, for the person who sent it. */
export function uploadErrorText(err, name) {
  const file = `“${name}”`;
  switch (err.code) {
    case 'PAYLOAD_TOO_LARGE': {
      const limit = limitOf(err.message);
      return `${file} is too big to send${limit ? `: files can be at most ${limit}` : ''}.`;
    }
    case 'IMAGE_TOO_LARGE':
      return `${file} has too many pixels for the server to handle. Try a smaller picture.`;
    case 'NOT_AN_IMAGE':
      return `${file} is not a picture the server can use: choose a PNG, JPEG, GIF or WebP image.`;
    case 'UNSUPPORTED_MEDIA_TYPE':
      return `The server did not accept ${file}: it was not sent as a file upload.`;
    case 'STORAGE_FULL':
      return `The server's disk is full, so ${file} was not saved. Please tell your administrator.`;
    case 'RATE_LIMITED':
      return `You are sending too fast: try ${file} again in ${err.retryAfter || 'a few'} seconds.`;
    case 'NETWORK':
      return `${file} was not sent: the connection to the server was lost.`;
    case 'ROOM_ACCESS_DENIED':
    case 'ROOM_NOT_FOUND':
      return `${file} was not sent: you can no longer post in this room.`;
    case 'UNAUTHORIZED':
      return `${file} was not sent: your session ended. Sign in again.`;
    default:
      return `${file} was not sent: ${err.message}`;
  }
}

/** A same-origin path from the server ("/api/..."), or null for anything else. */
export function localPath(url) {
  return typeof url === 'string' && url.startsWith('/') && !url.startsWith('//') ? url : null;
}
