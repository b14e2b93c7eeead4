package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"fiberauth/internal/auth"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
)

// countingStore counts the lookups that an input guard is there to spare.
type countingStore struct {
	store.Store
	usernames, digests atomic.Int64
}

func (s *countingStore) UserByUsername(ctx context.Context, username string) (store.User, error) {
	s.usernames.Add(1)
	return s.Store.UserByUsername(ctx, username)
}

func (s *countingStore) APIKeyByDigest(ctx context.Context, digest string) (store.APIKey, error) {
	s.digests.Add(1)
	return s.Store.APIKeyByDigest(ctx, digest)
}

func newCountingService(t *testing.T) (*auth.Service, *countingStore) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	cs := &countingStore{Store: st}
	mem := shared.NewMemory(nil)
	t.Cleanup(func() { mem.Close() })
	svc, err := auth.NewService(t.Context(), cs, auth.Options{BcryptCost: 4, CredentialTTL: time.Minute, Shared: mem})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	if err := svc.SeedDemo(t.Context()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	cs.usernames.Store(0)
	cs.digests.Store(0)
	return svc, cs
}

// The verification tests refuse bad usernames and keys, but the store would refuse
// them too (as unknown), so those tests passed with the guards removed. These
// assert the guard itself: input that cannot be a user or a key never reaches the
// store. A name or key that could exist does, which shows the count is live.
func TestInputGuardsSpareTheStore(t *testing.T) {
	svc, cs := newCountingService(t)

	usernames := []struct {
		name, username string
		wantLookup     bool
	}{
		{"an empty username is not looked up", "", false},
		{"a username over 64 bytes is not looked up", strings.Repeat("j", 65), false},
		{"a username with NUL is not looked up", "jo\x00hn", false},
		{"a username that is not UTF-8 is not looked up", "jo\xffhn", false},
		{"a 64-byte username is looked up", strings.Repeat("j", 64), true},
		{"an unknown but possible username is looked up", "mallory", true},
	}
	for _, tt := range usernames {
		t.Run(tt.name, func(t *testing.T) {
			for _, verify := range []struct {
				how string
				fn  func() error
			}{
				{"VerifyPassword", func() error {
					_, err := svc.VerifyPassword(t.Context(), tt.username, "secret123")
					return err
				}},
				{"Login", func() error {
					_, err := svc.Login(t.Context(), tt.username, "secret123", "192.0.2.1")
					return err
				}},
			} {
				before := cs.usernames.Load()
				if err := verify.fn(); !errors.Is(err, auth.ErrInvalidCredentials) {
					t.Errorf("%s: err = %v, want ErrInvalidCredentials", verify.how, err)
				}
				if looked := cs.usernames.Load() > before; looked != tt.wantLookup {
					t.Errorf("%s: store looked up = %v, want %v", verify.how, looked, tt.wantLookup)
				}
			}
		})
	}

	keys := []struct {
		name, key  string
		wantLookup bool
	}{
		{"an empty key is not looked up", "", false},
		{"a key over 256 bytes is not looked up", "sk_live_" + strings.Repeat("A", 249), false},
		{"a 256-byte key is looked up", "sk_live_" + strings.Repeat("B", 248), true},
		{"an unknown but possible key is looked up", "sk_live_unknown", true},
	}
	for _, tt := range keys {
		t.Run(tt.name, func(t *testing.T) {
			before := cs.digests.Load()
			if _, err := svc.VerifyAPIKey(t.Context(), tt.key); !errors.Is(err, auth.ErrInvalidAPIKey) {
				t.Errorf("VerifyAPIKey: err = %v, want ErrInvalidAPIKey", err)
			}
			if looked := cs.digests.Load() > before; looked != tt.wantLookup {
				t.Errorf("store looked up = %v, want %v", looked, tt.wantLookup)
			}
		})
	}
}
