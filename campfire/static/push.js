// Web Push in the page: register the service worker, subscribe this browser with the
// server's VAPID key, unsubscribe. The people-facing parts (a button, asking for permission on
// a click, never on load) are the client's; it calls these functions.

const SW_URL = '/sw.js';

/** Whether this browser can receive Web Push at all. */
export function pushSupported() {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

/** Register (or find) the service worker; its scope is the whole client. */
export async function registerServiceWorker() {
  return navigator.serviceWorker.register(SW_URL, { scope: '/', type: 'classic' });
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) {
    let message = `HTTP ${response.status}`;
    try { message = (await response.json()).error.message; } catch { /* not JSON */ }
    throw new Error(message);
  }
  return response.status === 204 ? null : response.json();
}

function keyBytes(base64url) {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/**
 * Subscribe this browser to pushes for the signed-in user. Call it from a click: it asks for
 * notification permission. Resolves to the PushSubscription, or null if permission is refused.
 */
export async function subscribePush() {
  if (!pushSupported()) return null;
  if (Notification.permission !== 'granted' && (await Notification.requestPermission()) !== 'granted') {
    return null;
  }
  const registration = await registerServiceWorker();
  await navigator.serviceWorker.ready;
  const { vapid_public_key: key } = await api('GET', '/api/push/vapid_public_key');
  let subscription = await registration.pushManager.getSubscription();
  if (subscription === null) {
    subscription = await registration.pushManager.subscribe({
      userVisibleOnly: true,
      applicationServerKey: keyBytes(key),
    });
  }
  await api('POST', '/api/push_subscriptions', subscription.toJSON());
  return subscription;
}

/** Stop pushes to this browser (on sign-out, or when the person turns them off). */
export async function unsubscribePush() {
  if (!pushSupported()) return;
  const registration = await navigator.serviceWorker.getRegistration('/');
  const subscription = registration && (await registration.pushManager.getSubscription());
  if (!subscription) return;
  try {
    await api('DELETE', '/api/push_subscriptions', { endpoint: subscription.endpoint });
  } finally {
    await subscription.unsubscribe();
  }
}

/** Whether this browser is subscribed now. */
export async function isSubscribed() {
  if (!pushSupported()) return false;
  const registration = await navigator.serviceWorker.getRegistration('/');
  return Boolean(registration && (await registration.pushManager.getSubscription()));
}

/** Call `handler({room_id, message_id, path})` when a clicked notification asks this page to open a room. */
export function onOpenRoom(handler) {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.addEventListener('message', (event) => {
    if (event.data && event.data.type === 'campfire:open-room') handler(event.data);
  });
}
