-- Running a team from the browser (issue 11): the account, login links, what a session was
-- opened from, and how much each room may interrupt each member.

-- The one account of this server: its name, the code of its join link, and whether members
-- (not only administrators) may create open rooms. Created on first use (accounts.py), so
-- the join code and the default of the setting come from the server, not from this script.
CREATE TABLE account (
    id                            INTEGER PRIMARY KEY CHECK (id = 1),
    name                          TEXT NOT NULL,
    join_code                     TEXT NOT NULL,
    members_can_create_open_rooms INTEGER NOT NULL,
    created_at                    TEXT NOT NULL
);

-- One-use links that sign a person in (and let them set a password). Only a hash of the
-- link's secret is stored, as for session tokens.
CREATE TABLE login_links (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_by TEXT REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT
);
CREATE INDEX login_links_user ON login_links(user_id);

-- The User-Agent of the browser (or script) that opened the session, for "my sessions".
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';

-- everything | mentions | nothing | invisible; direct rooms default to everything.
ALTER TABLE memberships ADD COLUMN involvement TEXT NOT NULL DEFAULT 'mentions'
    CHECK (involvement IN ('everything', 'mentions', 'nothing', 'invisible'));
UPDATE memberships SET involvement = 'everything'
    WHERE room_id IN (SELECT id FROM rooms WHERE room_type = 'direct');

-- A direct room's name is computed from its members' current names when shown, never stored.
UPDATE rooms SET name = '' WHERE room_type = 'direct';
