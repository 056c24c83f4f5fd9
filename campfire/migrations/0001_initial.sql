-- Users, sessions, rooms, memberships and messages.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin      INTEGER NOT NULL DEFAULT 0,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    revoked_at   TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE rooms (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    room_type   TEXT NOT NULL CHECK (room_type IN ('open', 'closed', 'direct')),
    creator_id  TEXT REFERENCES users(id) ON DELETE SET NULL,
    -- For direct rooms: the sorted member ids joined by ',', so one room exists per set.
    direct_key  TEXT UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    room_id       TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at     TEXT NOT NULL,
    -- The sequence number of the newest message this user has seen in this room.
    last_seen_seq INTEGER,
    PRIMARY KEY (room_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_id, room_id);

CREATE TABLE messages (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    room_id           TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    creator_id        TEXT NOT NULL REFERENCES users(id),
    content           TEXT NOT NULL,
    client_message_id TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (room_id, creator_id, client_message_id)
);
-- History paging and catch-up: "messages of room R after/before sequence S".
CREATE INDEX messages_room_seq ON messages(room_id, seq);
