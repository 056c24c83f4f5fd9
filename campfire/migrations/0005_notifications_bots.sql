-- Web Push (VAPID keys, subscriptions), bots (keys, webhooks) and the webhook outbox.

-- Secrets the server makes for itself on first start (the VAPID private key).
CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- A browser's push subscription (PushSubscription.toJSON()), one row per endpoint.
CREATE TABLE push_subscriptions (
    endpoint   TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    p256dh     TEXT NOT NULL,
    auth       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);

-- A user with a row here is a bot (role "bot"). Its key is "<user id>-<secret>"; only the
-- SHA-256 of the secret is kept. The webhook secret is kept as is: the server signs with it.
CREATE TABLE bots (
    user_id        TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    key_hash       TEXT NOT NULL,
    webhook_url    TEXT,
    webhook_secret TEXT,
    last_error     TEXT,
    last_error_at  TEXT,
    created_at     TEXT NOT NULL
);

-- The webhook outbox: written in the transaction that stores the message, deleted once the
-- bot's endpoint answered 2xx (or after the last attempt). The id is X-Campfire-Delivery.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    bot_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_attempt_at);
