-- Attachments (one per message), avatars, and the full-text search index.

-- An attachment row is written just before its message and lives until its files are gone:
-- no foreign keys to messages or rooms, so deleting those never loses track of a file on disk.
-- A row whose message does not exist is an orphan; campfire/attachments.py removes its files,
-- then the row (after a message or room is deleted, and at start for anything a crash left).
CREATE TABLE attachments (
    id             TEXT PRIMARY KEY,
    message_id     TEXT NOT NULL UNIQUE,
    room_id        TEXT NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    byte_size      INTEGER NOT NULL,
    sha256         TEXT NOT NULL,
    width          INTEGER,
    height         INTEGER,
    has_thumbnail  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
CREATE INDEX attachments_room ON attachments(room_id);

-- The avatar's version (a prefix of its sha256): its file name part, ETag and URL version.
ALTER TABLE users ADD COLUMN avatar_key TEXT;

-- Full-text search over message content: an external-content FTS5 table (the text lives once,
-- in messages), kept in step by triggers inside the same transaction as each change.
-- unicode61 with remove_diacritics 2 folds accents (cafe finds café); porter stems English
-- word forms (deploy finds deployed, deploying); docs/performance.md has the measurements.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    content,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, content) VALUES ('delete', old.seq, old.content);
    INSERT INTO messages_fts (rowid, content) VALUES (new.seq, new.content);
END;

-- Messages that existed before this migration are indexed at start by campfire/search.py in
-- batches (with progress in the log), up to this mark; the row goes when that is done.
CREATE TABLE search_backfill (
    next_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
INSERT INTO search_backfill (next_seq, last_seq)
    SELECT min(seq), max(seq) FROM messages WHERE seq IS NOT NULL HAVING count(*) > 0;
