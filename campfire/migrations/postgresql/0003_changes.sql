-- PostgreSQL's twin of ../0003_changes.sql, and the one sequence.
--
-- The counter row 'messages' plays sqlite_sequence's part: new messages (store.py,
-- insert_messages_txn) and changes (allocate_seqs_txn) take their numbers with
-- UPDATE counters SET value = value + n ... RETURNING inside their transaction. The row stays
-- locked until that transaction ends, so the next writer numbers after it: numbers become
-- visible in commit order, and a reader that saw seq k has every committed number below k.
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) SELECT 'messages', coalesce(max(seq), 0) FROM messages;

ALTER TABLE messages ADD COLUMN edited_at TEXT;

CREATE TABLE changes (
    seq        BIGINT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL
               CHECK (kind IN ('message_updated', 'message_deleted', 'boost_added', 'boost_removed')),
    message_id TEXT NOT NULL,
    boost_id   TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX changes_room_seq ON changes(room_id, seq);

CREATE TABLE boosts (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    booster_id TEXT NOT NULL REFERENCES users(id),
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (message_id, booster_id, content)
);

CREATE TABLE mentions (
    message_seq BIGINT NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (message_seq, user_id)
);
CREATE INDEX mentions_user ON mentions(user_id, message_seq);
