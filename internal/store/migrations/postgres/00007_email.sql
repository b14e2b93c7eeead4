-- Email addresses, the tokens mailed to verify one or to reset a password, and the
-- outbox that mail waits in until a sender has handed it to the SMTP server.
-- An address is stored trimmed with its domain in lower case; it is unique ignoring
-- case (the expression index). NULL means none (many NULLs are allowed).

-- +goose Up
ALTER TABLE users ADD COLUMN email TEXT;
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

-- Only the SHA-256 of a token is kept. A token is void once used_at is set (it was
-- used, or a newer one of its purpose was sent), after expires_at, and, for a reset
-- token, once the user's access generation has moved past the one it was issued
-- under (the password changed, or their access was ended).
CREATE TABLE email_tokens (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose           TEXT    NOT NULL CHECK (purpose IN ('verify', 'reset')),
    digest            TEXT    NOT NULL UNIQUE,
    email             TEXT    NOT NULL, -- the address it was sent to
    access_generation BIGINT  NOT NULL,
    created_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    used_at           BIGINT
);

CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose);

-- A row is written in the same transaction as what causes the mail, and kept after
-- it is sent (sent_at) or given up on (attempts at the limit, last_error says why).
-- lease_until: a sender has claimed the row until then; another may take it after.
CREATE TABLE mail_outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    recipient       TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    text_body       TEXT    NOT NULL,
    html_body       TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    lease_until     BIGINT,
    sent_at         BIGINT,
    last_error      TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX mail_outbox_created ON mail_outbox (created_at);

-- A request for a reset link, as typed, waiting for the recovery worker: the
-- request path writes only this row, the same for an account that exists and one
-- that does not; the worker looks the login up and queues the token and its mail.
CREATE TABLE reset_requests (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    login      TEXT    NOT NULL,
    client_ip  TEXT    NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE reset_requests;
DROP TABLE mail_outbox;
DROP TABLE email_tokens;
DROP INDEX users_email_lower;
ALTER TABLE users DROP COLUMN email_verified_at;
ALTER TABLE users DROP COLUMN email;
