package store

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"fiberauth/internal/apperr"
)

// A user holds at most MaxActiveKeysPerUser active keys, however many creations
// race: the count and the insert are one step.
func TestActiveKeysPerUserAreCapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		alice := mustCreateUser(t, s, "alice", RoleUser)
		bob := mustCreateUser(t, s, "bob", RoleUser)
		const existing = MaxActiveKeysPerUser - 5
		for i := range existing {
			mustCreateKey(t, s, alice.ID, fmt.Sprintf("alice-%03d", i), nil, PermRead)
		}
		// Revoked and expired keys do not count.
		revoked := mustCreateKey(t, s, alice.ID, "alice-revoked", nil, PermRead)
		_, err := s.RevokeAPIKey(ctx, alice.ID, revoked.ID, time.Now())
		wantNoErr(t, err)
		mustCreateKey(t, s, alice.ID, "alice-expired", ptr(time.Now().Add(-time.Minute)), PermRead)

		t.Run("of 100 parallel creations at 95 active keys exactly 5 succeed", func(t *testing.T) {
			const tries = 100
			var (
				wg             sync.WaitGroup
				mu             sync.Mutex
				created, full  int
				unexpectedErrs []error
			)
			for i := range tries {
				wg.Go(func() {
					k := APIKey{UserID: alice.ID, Name: "racer", Prefix: "sk_live_r", Digest: fmt.Sprintf("race-%03d", i),
						Permissions: []string{PermRead}}
					err := s.CreateAPIKey(ctx, &k)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						created++
					case errors.Is(err, ErrTooManyKeys):
						full++
					default:
						unexpectedErrs = append(unexpectedErrs, err)
					}
				})
			}
			wg.Wait()
			if created != 5 || full != tries-5 || len(unexpectedErrs) > 0 {
				t.Fatalf("created %d, refused %d, other errors %v; want 5, %d, none", created, full, unexpectedErrs, tries-5)
			}
			users, err := s.ListUsers(ctx)
			wantNoErr(t, err)
			for _, u := range users {
				if u.ID == alice.ID && u.ActiveKeys != MaxActiveKeysPerUser {
					t.Errorf("alice has %d active keys, want %d", u.ActiveKeys, MaxActiveKeysPerUser)
				}
			}
		})

		t.Run("the cap is per user", func(t *testing.T) {
			mustCreateKey(t, s, bob.ID, "bob-1", nil, PermRead)
		})

		t.Run("revoking a key makes room for one", func(t *testing.T) {
			keys, err := s.ListAPIKeys(ctx, alice.ID)
			wantNoErr(t, err)
			k := APIKey{UserID: alice.ID, Name: "after", Prefix: "sk_live_a", Digest: "after-revoke", Permissions: []string{PermRead}}
			if err := s.CreateAPIKey(ctx, &k); !errors.Is(err, ErrTooManyKeys) {
				t.Fatalf("101st key: %v, want ErrTooManyKeys", err)
			}
			_, err = s.RevokeAPIKey(ctx, alice.ID, keys[0].ID, time.Now())
			wantNoErr(t, err)
			wantNoErr(t, s.CreateAPIKey(ctx, &k))
		})

		t.Run("a key for a user that does not exist is not found", func(t *testing.T) {
			k := APIKey{UserID: 999999, Name: "ghost", Prefix: "sk_live_g", Digest: "ghost", Permissions: []string{PermRead}}
			wantKind(t, s.CreateAPIKey(ctx, &k), apperr.KindNotFound)
		})
	})
}
