-- Times are BIGINT unix nanoseconds, UTC, as in the SQLite schema, so one set of Go
-- scanning code serves both databases; NULL means "never".

-- +goose Up
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT   NOT NULL,
    password_hash TEXT   NOT NULL,
    role          TEXT   NOT NULL CHECK (role IN ('user', 'admin')),
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

-- Usernames are unique ignoring case; lookups use lower(username) to hit this index.
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));

CREATE TABLE api_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    prefix       TEXT   NOT NULL,
    digest       TEXT   NOT NULL UNIQUE,
    permissions  TEXT   NOT NULL, -- comma-separated, e.g. 'read,write'
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX api_keys_user_id ON api_keys (user_id);

CREATE TABLE audit_events (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT   NOT NULL,
    action    TEXT   NOT NULL,
    client_ip TEXT   NOT NULL,
    outcome   TEXT   NOT NULL,
    detail    TEXT   NOT NULL
);

CREATE INDEX audit_events_actor_at ON audit_events (actor, at);
-- The admin view lists everyone's newest events first.
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose Down
DROP TABLE audit_events;
DROP TABLE api_keys;
DROP TABLE users;
