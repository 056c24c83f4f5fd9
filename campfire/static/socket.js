// The WebSocket: connect with the session cookie, reconnect with exponential backoff and
// jitter, and keep an outbox of CreateMessage frames until the server echoes each one back.

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;

/** Delay before reconnect attempt `attempt` (0, 1, ...): exponential, with jitter in [50%, 100%]. */
export function backoffDelay(attempt) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export class ChatSocket {
  /**
   * handlers: onEvent(event), onStatus(state, detail) with state in
   * 'connecting' | 'online' | 'offline'; onReady(); checkAuth() -> Promise<boolean> (false when
   * the session is gone: stop reconnecting).
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.checking = false; // a reconnect attempt is asking the server (checkAuth)
    this.outbox = new Map(); // client_message_id -> CreateMessage frame, until echoed
    this.outboxTimer = null; // a resend after the server could not store messages
    this.outboxAttempt = 0;
    // Try at once when the network comes back or the person returns to the tab.
    window.addEventListener('online', () => this.reconnectNow());
    window.addEventListener('focus', () => this.reconnectNow());
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') this.reconnectNow();
    });
  }

  /** Open the socket (once; later opens happen by themselves). */
  connect() {
    if (this.stopped || this.ws) return;
    this.handlers.onStatus('connecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`);
    this.ws = ws;
    ws.addEventListener('message', (e) => this.receive(e.data));
    ws.addEventListener('close', () => this.closed(ws));
  }

  /** Stop for good (logout). */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000, 'Logged out');
  }

  /** Send a frame now if the socket is ready; ephemeral frames are dropped while offline. */
  send(frame) {
    if (!this.ready) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Send a CreateMessage now or as soon as the connection is back; retries are deduplicated. */
  sendMessage(frame) {
    this.outbox.set(frame.client_message_id, frame);
    this.send(frame);
  }

  /** The server echoed a message: it is stored, stop retrying it. */
  acknowledge(clientMessageId) {
    this.outbox.delete(clientMessageId);
    this.outboxAttempt = 0; // the server stores messages again
  }

  /** The server could not store a message just now (its database restarting): send the
   * outbox again after a pause that grows with each failure, as reconnecting does. */
  retryOutboxLater() {
    if (this.outboxTimer !== null || !this.outbox.size) return;
    this.outboxTimer = setTimeout(() => {
      this.outboxTimer = null;
      this.flushOutbox();
    }, backoffDelay(this.outboxAttempt++));
  }

  /** Send every message not yet acknowledged (same client_message_id: no double post). */
  flushOutbox() {
    for (const frame of this.outbox.values()) this.send(frame);
  }

  receive(text) {
    let event;
    try {
      event = JSON.parse(text);
    } catch {
      return;
    }
    if (event.type === 'Ready') {
      this.ready = true;
      this.attempt = 0;
      this.handlers.onStatus('online');
      this.flushOutbox();
      this.handlers.onReady(event);
      return;
    }
    this.handlers.onEvent(event);
  }

  closed(ws) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.ready = false;
    if (this.stopped) return;
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const delay = backoffDelay(this.attempt++);
    this.handlers.onStatus('offline', delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.retry(), delay);
  }

  /** Reconnect at once (the network is back, the tab has focus again, or the person asked). */
  reconnectNow() {
    if (this.stopped || this.ws || this.checking) return;
    clearTimeout(this.timer);
    this.retry();
  }

  /** Check the server answers and the session is alive before opening a new socket. */
  async retry() {
    if (this.stopped || this.ws || this.checking) return;
    let alive;
    this.checking = true;
    try {
      alive = await this.handlers.checkAuth();
    } catch {
      this.scheduleReconnect(); // server unreachable: try again later
      return;
    } finally {
      this.checking = false;
    }
    if (!alive) {
      this.stop();
      return;
    }
    this.connect();
  }
}
