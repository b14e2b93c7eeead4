package store

import (
	"slices"
	"sync"
	"testing"
)

func fakeHash(pw string) (string, error) { return "hash:" + pw, nil }
func fakeDigest(key string) string       { return "digest:" + key }

func TestKeyPrefix(t *testing.T) {
	tests := []struct{ key, want string }{
		{"sk_test_123", "sk_test_1"},
		{"sk_live_456", "sk_live_4"},
		{"sk_live_0123456789abcdef", "sk_live_0123"},
		{"abc", "a"},
		{"ab", ""},
		{"a", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := KeyPrefix(tt.key); got != tt.want {
			t.Errorf("KeyPrefix(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestSeedDemo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		// bob exists already with a password of his own, which seeding must keep.
		bob := User{Username: "Bob", PasswordHash: "hash:changed", Role: RoleUser}
		wantNoErr(t, s.CreateUser(ctx, &bob))

		for range 2 {
			wantNoErr(t, SeedDemo(ctx, s, fakeHash, fakeDigest))
		}

		users, err := s.ListUsers(ctx)
		wantNoErr(t, err)
		wantUsers := map[string]struct{ hash, role string }{
			"admin": {"hash:supersecret", RoleAdmin},
			"alice": {"hash:password123", RoleUser},
			"Bob":   {"hash:changed", RoleUser},
			"john":  {"hash:secret123", RoleUser},
		}
		if len(users) != len(wantUsers) {
			t.Errorf("%d users, want %d", len(users), len(wantUsers))
		}
		for _, u := range users {
			want, ok := wantUsers[u.Username]
			if !ok || u.PasswordHash != want.hash || u.Role != want.role {
				t.Errorf("user %q: hash %q role %q, want %+v", u.Username, u.PasswordHash, u.Role, want)
			}
		}

		keys, err := s.ListAPIKeys(ctx, 0)
		wantNoErr(t, err)
		if len(keys) != 2 {
			t.Fatalf("%d keys, want 2", len(keys))
		}
		tests := []struct {
			key, owner, name, prefix string
			perms                    []string
		}{
			{"sk_test_123", "john", "Demo key (read, write)", "sk_test_1", []string{PermRead, PermWrite}},
			{"sk_live_456", "alice", "Demo key (read only)", "sk_live_4", []string{PermRead}},
		}
		for _, tt := range tests {
			k, err := s.APIKeyByDigest(ctx, fakeDigest(tt.key))
			wantNoErr(t, err)
			if k.Username != tt.owner || k.Name != tt.name || k.Prefix != tt.prefix ||
				!slices.Equal(k.Permissions, tt.perms) || k.ExpiresAt != nil || k.RevokedAt != nil {
				t.Errorf("key %s = %+v", tt.key, k)
			}
		}
	})
}

func TestSeedDemoConcurrently(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- SeedDemo(t.Context(), s, fakeHash, fakeDigest) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			wantNoErr(t, err)
		}
		users, err := s.ListUsers(t.Context())
		wantNoErr(t, err)
		keys, err := s.ListAPIKeys(t.Context(), 0)
		wantNoErr(t, err)
		if len(users) != 4 || len(keys) != 2 {
			t.Errorf("%d users and %d keys, want 4 and 2", len(users), len(keys))
		}
	})
}
