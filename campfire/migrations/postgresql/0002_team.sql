-- PostgreSQL's twin of ../0002_team.sql.
CREATE TABLE account (
    id                            INTEGER PRIMARY KEY CHECK (id = 1),
    name                          TEXT NOT NULL,
    join_code                     TEXT NOT NULL,
    members_can_create_open_rooms INTEGER NOT NULL,
    created_at                    TEXT NOT NULL
);

CREATE TABLE login_links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX login_links_user ON login_links(user_id);

ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

ALTER TABLE memberships ADD COLUMN involvement TEXT NOT NULL DEFAULT 'mentions'
    CHECK (involvement IN ('everything', 'mentions', 'nothing', 'invisible'));
UPDATE memberships SET involvement = 'everything'
    WHERE room_id IN (SELECT id FROM rooms WHERE room_type = 'direct');

UPDATE rooms SET name = '' WHERE room_type = 'direct';
