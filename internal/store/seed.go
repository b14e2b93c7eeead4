package store

import (
	"context"
	"fmt"

	"fiberauth/internal/apperr"
)

// KeyPrefix returns the start of key that is safe to display: its first 12
// characters, but always leaving at least two characters hidden.
func KeyPrefix(key string) string {
	return key[:max(0, min(12, len(key)-2))]
}

// SeedDemo adds the demo users and API keys that are missing. Existing ones are
// left as they are, so running it at every start-up keeps a changed demo password,
// and several instances may seed at once. Hashing is the caller's: hash turns a
// password into a stored hash, digest a key into its stored digest.
func SeedDemo(ctx context.Context, s Store, hash func(password string) (string, error), digest func(key string) string) error {
	// The article's credentials (design.md, "Demo data"). Local, not package
	// variables, so nothing can change them between calls.
	demoUsers := []struct{ username, password, role string }{
		{"john", "secret123", RoleUser},
		{"admin", "supersecret", RoleAdmin},
		{"alice", "password123", RoleUser},
		{"bob", "securepass", RoleUser},
	}
	demoKeys := []struct {
		key, name, owner string
		permissions      []string
	}{
		{"sk_test_123", "Demo key (read, write)", "john", []string{PermRead, PermWrite}},
		{"sk_live_456", "Demo key (read only)", "alice", []string{PermRead}},
	}

	for _, du := range demoUsers {
		_, err := s.UserByUsername(ctx, du.username)
		if !apperr.Is(err, apperr.KindNotFound) {
			if err != nil {
				return fmt.Errorf("seeding user %s: %w", du.username, err)
			}
			continue
		}
		h, err := hash(du.password)
		if err != nil {
			return fmt.Errorf("seeding user %s: %w", du.username, err)
		}
		// Demo users have verified addresses, so that a password reset can be tried
		// at once (the mail shows at /dev/mailbox).
		verified := now()
		u := User{Username: du.username, PasswordHash: h, Role: du.role, Email: du.username + "@example.com", EmailVerifiedAt: &verified}
		// A conflict means another instance seeded it since we looked.
		if err := s.CreateUser(ctx, &u); err != nil && !apperr.Is(err, apperr.KindConflict) {
			return fmt.Errorf("seeding user %s: %w", du.username, err)
		}
	}

	for _, dk := range demoKeys {
		d := digest(dk.key)
		_, err := s.APIKeyByDigest(ctx, d)
		if !apperr.Is(err, apperr.KindNotFound) {
			if err != nil {
				return fmt.Errorf("seeding API key %s: %w", dk.name, err)
			}
			continue
		}
		owner, err := s.UserByUsername(ctx, dk.owner)
		if err != nil {
			return fmt.Errorf("seeding API key %s: %w", dk.name, err)
		}
		k := APIKey{
			UserID:      owner.ID,
			Name:        dk.name,
			Prefix:      KeyPrefix(dk.key),
			Digest:      d,
			Permissions: dk.permissions,
		}
		if err := s.CreateAPIKey(ctx, &k); err != nil && !apperr.Is(err, apperr.KindConflict) {
			return fmt.Errorf("seeding API key %s: %w", dk.name, err)
		}
	}
	return nil
}
