-- acme-mail schema, version 1. Applied once by acme-mail at start and recorded in schema_history
-- with the SHA-256 of this file: never edit it after release, add V2__... instead.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE,
    password_hash text NOT NULL
);

CREATE TABLE messages (
    id            bigserial PRIMARY KEY,
    owner_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender        text NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    sent_at       timestamptz NOT NULL DEFAULT now(),
    -- Filled by the background indexer: to_tsvector('english', subject || ' ' || body).
    search_vector tsvector
);

CREATE INDEX messages_owner_sent_at_idx ON messages (owner_id, sent_at DESC);
CREATE INDEX messages_search_vector_idx ON messages USING gin (search_vector);
CREATE INDEX messages_unindexed_idx ON messages (id) WHERE search_vector IS NULL;

CREATE TABLE sessions (
    token      text PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
