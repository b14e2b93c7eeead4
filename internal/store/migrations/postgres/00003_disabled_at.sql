-- disabled_at is when an admin disabled the user (NULL: the user may log in). It is
-- read with the password hash and with every API key, so a disabled user is refused
-- by whatever verifies them next; disabling also ends their access everywhere
-- (access_generation), so nothing cached outlives it.

-- +goose Up
ALTER TABLE users ADD COLUMN disabled_at BIGINT NULL;

-- +goose Down
ALTER TABLE users DROP COLUMN disabled_at;
