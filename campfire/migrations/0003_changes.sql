-- Messages that live: edits, deletions, boosts, mentions, and the log of changes.
--
-- The one sequence: messages.seq is AUTOINCREMENT, so SQLite keeps its high-water mark in
-- sqlite_sequence (name 'messages'). A change takes its numbers from that same counter
-- (store.allocate_seqs_txn: UPDATE sqlite_sequence ... RETURNING, inside the write
-- transaction), and the next message's seq is above them. One writer, so numbers follow
-- commit order. (On PostgreSQL: one SEQUENCE both tables draw from.)

-- NULL until the message is first edited; the time of the latest edit.
ALTER TABLE messages ADD COLUMN edited_at TEXT;

-- Every change to a room's messages after their creation, numbered from the message
-- sequence. Rows stay when their message is deleted (a deletion is itself a change); they
-- go with their room.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL
               CHECK (kind IN ('message_updated', 'message_deleted', 'boost_added', 'boost_removed')),
    message_id TEXT NOT NULL,
    boost_id   TEXT,
    created_at TEXT NOT NULL
);
-- Catch-up: "changes of room R after sequence S".
CREATE INDEX changes_room_seq ON changes(room_id, seq);

-- A short emoji or word stuck to a message by a member.
CREATE TABLE boosts (
    id         TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    booster_id TEXT NOT NULL REFERENCES users(id),
    content    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (message_id, booster_id, content)
);

-- Who a message mentions (worked out by the server from its content).
CREATE TABLE mentions (
    message_seq INTEGER NOT NULL REFERENCES messages(seq) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id),
    PRIMARY KEY (message_seq, user_id)
) WITHOUT ROWID;
-- "The newest messages that mention user U".
CREATE INDEX mentions_user ON mentions(user_id, message_seq);
