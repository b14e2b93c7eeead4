-- access_generation is the one way to end a user's access everywhere: every
-- session, cached credential and token is stamped with the value it was made under
-- and is void once the value has moved past it (internal/auth/access.go).
-- app_secrets holds keys every instance must share (e.g. for signed CSRF tokens of
-- visitors who have no session), made once by whichever instance needs one first.

-- +goose Up
ALTER TABLE users ADD COLUMN access_generation BIGINT NOT NULL DEFAULT 0;

CREATE TABLE app_secrets (
    name       TEXT   PRIMARY KEY,
    value      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE app_secrets;
ALTER TABLE users DROP COLUMN access_generation;
