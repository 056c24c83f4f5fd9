-- PostgreSQL's twin of ../0001_initial.sql: the same tables and columns (tests/test_postgres.py
-- compares them). What differs, and why:
-- * nocase: SQLite's COLLATE NOCASE, as a case-insensitive ICU collation of the same name, so
--   the queries' "COLLATE NOCASE" (an unquoted name, folded to nocase) reads the same here.
-- * group_concat: SQLite's aggregate (comma-separated), so the queries need no second form.
-- * messages.seq takes its numbers from the counters row 'messages' (see 0003), not from a
--   SEQUENCE: a sequence number is taken at INSERT but seen at COMMIT, out of order.
-- * booleans stay INTEGER 0/1 as on SQLite (the Python side sends bools as integers).
CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false);

CREATE FUNCTION group_concat_step(acc text, value text) RETURNS text
    LANGUAGE sql IMMUTABLE AS
    $$ SELECT CASE WHEN value IS NULL THEN acc WHEN acc IS NULL THEN value
                   ELSE acc || ',' || value END $$;
CREATE AGGREGATE group_concat(text) (SFUNC = group_concat_step, STYPE = text);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE nocase,
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
    direct_key  TEXT UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    room_id       TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    joined_at     TEXT NOT NULL,
    last_seen_seq BIGINT,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX memberships_user ON memberships(user_id, room_id);

CREATE TABLE messages (
    seq               BIGINT PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    room_id           TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    creator_id        TEXT NOT NULL REFERENCES users(id),
    content           TEXT NOT NULL,
    client_message_id TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    UNIQUE (room_id, creator_id, client_message_id)
);
CREATE INDEX messages_room_seq ON messages(room_id, seq);
