-- Passkeys (WebAuthn credentials). A passkey row holds a PUBLIC key only: the private
-- key never leaves the user's authenticator, so this table holds no secret.
-- passkey_users gives each user a random WebAuthn user handle (never the numeric ID),
-- which the authenticator returns at login and which names the user.

-- +goose Up
CREATE TABLE passkey_users (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BLOB    NOT NULL UNIQUE
) STRICT;

CREATE TABLE passkeys (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      BLOB    NOT NULL UNIQUE,
    public_key         BLOB    NOT NULL, -- COSE key
    sign_count         INTEGER NOT NULL,
    aaguid             BLOB    NOT NULL,
    transports         TEXT    NOT NULL, -- comma-separated, e.g. 'internal,hybrid'
    flags              INTEGER NOT NULL, -- UP, UV, BE, BS as go-webauthn packs them
    attestation_type   TEXT    NOT NULL,
    attestation_format TEXT    NOT NULL,
    name               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER
) STRICT;

CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- +goose Down
DROP TABLE passkeys;
DROP TABLE passkey_users;
