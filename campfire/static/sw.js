// Campfire's service worker: shows Web Push notifications and opens the room when one is
// clicked. Served at /sw.js (scope: the whole client). The push payload is JSON made by the
// server (campfire/push.py): {title, body, path, room_id, message_id}.

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  const options = {
    body: data.body || '',
    icon: '/static/favicon.svg',
    badge: '/static/favicon.svg',
    data: { path: data.path || '/', room_id: data.room_id || null, message_id: data.message_id || null },
  };
  // One notification per room: a newer message replaces the older one instead of piling up.
  if (data.room_id) {
    options.tag = `room-${data.room_id}`;
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(data.title || 'Campfire', options));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const { path, room_id: roomId, message_id: messageId } = event.notification.data || {};
  const url = new URL(path || '/', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const mine = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (mine) {
      // An open client switches rooms itself (push.js: onOpenRoom); focus it first.
      await mine.focus();
      mine.postMessage({ type: 'campfire:open-room', room_id: roomId, message_id: messageId, path });
      return;
    }
    await self.clients.openWindow(url);
  })());
});
