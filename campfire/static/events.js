// The one place socket events are dispatched by type. A feature module registers what it
// handles with `on('NewMessage', fn)`; several handlers per type run in registration order.
// Besides the server's frame types, the page itself dispatches these lifecycle events:
//   'status'     {status: 'connecting' | 'online' | 'offline'}
//   'ready'      {reconnect: boolean}    after the socket's Ready (and the page's own refresh)
//   'room-opened' {roomId}               after a room became the open one
//   'unread'     {total}                 after the room list's unread counts were redrawn
//   'draft-opened' {userId}              a conversation with one person, made by its first message

const handlers = new Map(); // type -> [handler]

/** Call `handler(event)` for every event of this type. */
export function on(type, handler) {
  if (!handlers.has(type)) handlers.set(type, []);
  handlers.get(type).push(handler);
}

/** Hand an event to every handler of its type; true if anyone handled it. */
export function dispatch(event) {
  const list = handlers.get(event.type) || [];
  for (const handler of list) handler(event);
  return list.length > 0;
}
