-- Passkeys (WebAuthn credentials). A passkey row holds a PUBLIC key only: the private
-- key never leaves the user's authenticator, so this table holds no secret.
-- passkey_users gives each user a random WebAuthn user handle (never the numeric ID),
-- which the authenticator returns at login and which names the user.

-- +goose Up
CREATE TABLE passkey_users (
    user_id BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    handle  BYTEA  NOT NULL UNIQUE
);

CREATE TABLE passkeys (
    id                 BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id            BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id      BYTEA  NOT NULL UNIQUE,
    public_key         BYTEA  NOT NULL, -- COSE key
    sign_count         BIGINT NOT NULL,
    aaguid             BYTEA  NOT NULL,
    transports         TEXT   NOT NULL, -- comma-separated, e.g. 'internal,hybrid'
    flags              INTEGER NOT NULL, -- UP, UV, BE, BS as go-webauthn packs them
    attestation_type   TEXT   NOT NULL,
    attestation_format TEXT   NOT NULL,
    name               TEXT   NOT NULL,
    created_at         BIGINT NOT NULL,
    last_used_at       BIGINT
);

CREATE INDEX passkeys_user_id ON passkeys (user_id);

-- +goose Down
DROP TABLE passkeys;
DROP TABLE passkey_users;
