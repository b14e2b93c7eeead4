-- Tokens (internal/token). jwt_signing_keys holds the Ed25519 keys every instance
-- signs and verifies access tokens with; the private key is sealed under
-- SECRETS_KEY (internal/secretbox). `active` is 1 for the one key that signs and
-- NULL for retired ones: its UNIQUE constraint makes "at most one signing key" a
-- fact the database keeps, so instances starting together insert one key, not two.
-- A retired key still verifies until retired_at + ACCESS_TOKEN_TTL.
--
-- refresh_families is one login through the password grant; refresh_tokens are its
-- rotated refresh tokens, stored as SHA-256 digests. A token is spent once
-- (spent_at); presenting a spent one revokes the family.

-- +goose Up
CREATE TABLE jwt_signing_keys (
    kid            TEXT    PRIMARY KEY,
    algorithm      TEXT    NOT NULL,
    public_key     BYTEA    NOT NULL,
    private_sealed BYTEA    NOT NULL,
    active         BIGINT  UNIQUE CHECK (active = 1),
    created_at     BIGINT  NOT NULL,
    retired_at     BIGINT
);

CREATE TABLE refresh_families (
    id           BIGSERIAL PRIMARY KEY,
    handle       TEXT    NOT NULL UNIQUE,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation   BIGINT  NOT NULL,
    scope        TEXT    NOT NULL,
    client_ip    TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT
);

CREATE INDEX refresh_families_user_id ON refresh_families (user_id);

CREATE TABLE refresh_tokens (
    digest     TEXT    PRIMARY KEY,
    family_id  BIGINT  NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    spent_at   BIGINT
);

CREATE INDEX refresh_tokens_family_id ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE refresh_tokens;
DROP TABLE refresh_families;
DROP TABLE jwt_signing_keys;
