-- PostgreSQL's twin of ../0004_files_search.sql. Search: instead of an FTS5 table, a GIN index
-- on the messages' text as a tsvector (nothing to keep in step, so no triggers and no
-- backfill). The configuration 'campfire' does what SQLite's tokenizer does: folds accents
-- (unaccent: cafe finds café) and stems English word forms (snowball english, without a
-- stop-word list, so "the" is a word as in FTS5).
CREATE TABLE attachments (
    id             TEXT PRIMARY KEY,
    message_id     TEXT NOT NULL UNIQUE,
    room_id        TEXT NOT NULL,
    filename       TEXT NOT NULL,
    content_type   TEXT NOT NULL,
    byte_size      BIGINT NOT NULL,
    sha256         TEXT NOT NULL,
    width          INTEGER,
    height         INTEGER,
    has_thumbnail  INTEGER NOT NULL DEFAULT 0,
    created_at     TEXT NOT NULL
);
CREATE INDEX attachments_room ON attachments(room_id);

ALTER TABLE users ADD COLUMN avatar_key TEXT;

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH DICTIONARY campfire_stem (TEMPLATE = snowball, Language = english);
CREATE TEXT SEARCH CONFIGURATION campfire (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION campfire
    ALTER MAPPING FOR asciiword, word, numword, asciihword, hword, numhword,
                      hword_asciipart, hword_part, hword_numpart
    WITH unaccent, campfire_stem;
CREATE INDEX messages_search ON messages USING gin (to_tsvector('campfire', content));
