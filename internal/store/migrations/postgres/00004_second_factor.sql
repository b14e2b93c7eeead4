-- The second factor (internal/mfa). users.second_factor ('' or 'totp') is read in
-- the same row as the password hash, so whatever checks a password knows at once
-- whether a password alone is enough; it is set in the same transaction as the
-- TOTP row it describes.
-- user_totp: one secret per user, sealed with AES-GCM under SECRETS_KEY
-- (internal/secretbox); confirmed_at NULL while enrolment is not finished;
-- last_step is the last accepted time step (no code is accepted twice).
-- recovery_codes: SHA-256 of each code; used_at set once, by a conditional UPDATE.
-- remembered_browsers: SHA-256 of a browser's "remember me" token, void once the
-- user's access_generation has moved past the one it was made under.

-- +goose Up
ALTER TABLE users ADD COLUMN second_factor TEXT NOT NULL DEFAULT '';

CREATE TABLE user_totp (
    user_id      BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       BYTEA   NOT NULL,
    created_at   BIGINT  NOT NULL,
    confirmed_at BIGINT,
    last_step    BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE recovery_codes (
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    used_at    BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE remembered_browsers (
    digest       TEXT    PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    handle       TEXT    NOT NULL UNIQUE,
    generation   BIGINT  NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    client_ip    TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
);

CREATE INDEX remembered_browsers_user_id ON remembered_browsers (user_id);

-- +goose Down
DROP TABLE remembered_browsers;
DROP TABLE recovery_codes;
DROP TABLE user_totp;
ALTER TABLE users DROP COLUMN second_factor;
