package auth

import (
	"fiberauth/internal/testenv"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"fiberauth/internal/apperr"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
)

// newTestService opens a temp SQLite store with the demo data and a service at cost.
func newTestService(t *testing.T, cost int) (*Service, store.Store, *testenv.Clock) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "auth.db"))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	clock := testenv.NewClock(time.Now())
	svc := newServiceOn(t, st, cost, clock)
	if err := svc.SeedDemo(t.Context()); err != nil {
		t.Fatalf("seed: %v", err)
	}
	return svc, st, clock
}

func newServiceOn(t *testing.T, st store.Store, cost int, clock *testenv.Clock) *Service {
	t.Helper()
	mem := shared.NewMemory(nil)
	t.Cleanup(func() { mem.Close() })
	svc, err := NewService(t.Context(), st, Options{BcryptCost: cost, CredentialTTL: time.Minute, Shared: mem, Now: clock.Now})
	if err != nil {
		t.Fatalf("service: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	return svc
}

func TestVerifyPassword(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	tests := []struct {
		name, username, password string
		wantErr                  bool
	}{
		{"right password", "john", "secret123", false},
		{"username in another case", "JOHN", "secret123", false},
		{"wrong password", "john", "secret124", true},
		{"unknown user", "mallory", "secret123", true},
		{"empty username", "", "secret123", true},
		{"non-UTF-8 username", "jo\xffhn", "secret123", true},
		{"1000-character username", strings.Repeat("j", 1000), "secret123", true},
		{"SQL in the username", "john' --", "secret123", true},
		{"password with a suffix", "john", "secret1234", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := svc.VerifyPassword(t.Context(), tt.username, tt.password)
			if tt.wantErr {
				if err != ErrInvalidCredentials {
					t.Errorf("err = %v, want ErrInvalidCredentials", err)
				}
				return
			}
			if err != nil || p.Username != "john" || p.Role != store.RoleUser {
				t.Errorf("got %+v, %v", p, err)
			}
		})
	}
}

// An unknown user costs one bcrypt compare at the configured cost, like a known one,
// so the two cannot be told apart by time.
func TestUnknownUserTakesTheSamePath(t *testing.T) {
	svc, _, _ := newTestService(t, 5)
	var costs []int
	svc.hasher.compare = func(hash, pw []byte) error {
		c, _ := bcrypt.Cost(hash)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	svc.creds = newCredentialCache(0, time.Now) // no cache: every call compares
	for _, tc := range []struct{ user, pass string }{{"john", "wrong-pass"}, {"nobody", "wrong-pass"}, {strings.Repeat("x", 500), "pw"}} {
		costs = nil
		_, err := svc.VerifyPassword(t.Context(), tc.user, tc.pass)
		if err != ErrInvalidCredentials {
			t.Fatalf("%s: err = %v", tc.user, err)
		}
		// The demo users were seeded at cost 5 by this service.
		if len(costs) != 1 || costs[0] != 5 {
			t.Errorf("%.10s: compared against costs %v, want one compare at cost 5", tc.user, costs)
		}
	}
}

// Unknown users cost what known ones cost whatever costs are stored: here the demo
// users were seeded at cost 6 and the server runs at 4 (an operator lowered
// BCRYPT_COST). bcrypt's work doubles with each cost step, so the work of a check is
// the sum of 2^cost over its compares.
func TestFailedCheckCostsTheSameWhateverTheStoredCost(t *testing.T) {
	_, st, clock := newTestService(t, 6)
	svc := newServiceOn(t, st, 4, clock)
	if _, err := svc.CreateUser(t.Context(), "newer", "a-password-at-4", store.RoleUser); err != nil {
		t.Fatal(err)
	}
	var work int
	svc.hasher.compare = func(hash, pw []byte) error {
		c, _ := bcrypt.Cost(hash)
		work += 1 << c
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	svc.creds = newCredentialCache(0, time.Now) // no cache: every call compares
	costOf := func(user, pass string) int {
		work = 0
		if _, err := svc.VerifyPassword(t.Context(), user, pass); err != ErrInvalidCredentials {
			t.Fatalf("%s: err = %v", user, err)
		}
		return work
	}
	want := costOf("nobody", "wrong-pass")
	if want != 1<<6 {
		t.Errorf("an unknown user costs %d, want 2^6 (the costliest stored hash)", want)
	}
	for _, user := range []string{"john", "newer"} { // stored at 6, and at 4
		if got := costOf(user, "wrong-pass"); got != want {
			t.Errorf("a wrong password for %s costs %d, an unknown user %d", user, got, want)
		}
	}
}

func TestRehashOnLogin(t *testing.T) {
	svc, st, clock := newTestService(t, 4)
	before, _ := st.UserByUsername(t.Context(), "alice")
	if c, _ := bcrypt.Cost([]byte(before.PasswordHash)); c != 4 {
		t.Fatalf("seeded cost = %d", c)
	}
	stronger := newServiceOn(t, st, 6, clock)
	if _, err := stronger.Login(t.Context(), "alice", "password123", "127.0.0.1"); err != nil {
		t.Fatalf("login: %v", err)
	}
	after, _ := st.UserByUsername(t.Context(), "alice")
	if c, _ := bcrypt.Cost([]byte(after.PasswordHash)); c != 6 {
		t.Errorf("cost after login = %d, want 6", c)
	}
	if _, err := svc.VerifyPassword(t.Context(), "alice", "password123"); err != nil {
		t.Errorf("the upgraded hash no longer verifies: %v", err)
	}
}

func TestPasswordLength(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	b72 := strings.Repeat("p", 72)
	tests := []struct {
		name, password string
		wantField      bool
	}{
		{"7 bytes is too short", "1234567", true},
		{"8 bytes is fine", "12345678", false},
		{"72 bytes is fine", b72, false},
		{"73 bytes is refused, not truncated", b72 + "X", true},
		{"72 bytes of multibyte text is fine", strings.Repeat("é", 36), false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.CreateUser(t.Context(), "user"+string(rune('a'+i)), tt.password, store.RoleUser)
			if got := apperr.Is(err, apperr.KindValidation); got != tt.wantField {
				t.Errorf("err = %v, want validation error %v", err, tt.wantField)
			}
		})
	}
	t.Run("a 73-byte password never logs in, even when its first 72 bytes match", func(t *testing.T) {
		if _, err := svc.VerifyPassword(t.Context(), "userc", b72); err != nil {
			t.Fatalf("72-byte password: %v", err)
		}
		if _, err := svc.VerifyPassword(t.Context(), "userc", b72+"X"); err != ErrInvalidCredentials {
			t.Errorf("73-byte password: err = %v", err)
		}
	})
}

func TestCreateUserConflict(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	if _, err := svc.CreateUser(t.Context(), "Alice", "another-password", store.RoleUser); !apperr.Is(err, apperr.KindConflict) {
		t.Errorf("err = %v, want conflict", err)
	}
}

func TestChangePasswordForgetsCachedCredentials(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	p, err := svc.VerifyPassword(t.Context(), "bob", "securepass") // now cached
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ChangePassword(t.Context(), p.UserID, "wrong-current", "new-password-1"); !apperr.Is(err, apperr.KindValidation) {
		t.Fatalf("wrong current password: %v", err)
	}
	if _, err := svc.ChangePassword(t.Context(), p.UserID, "securepass", "new-password-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyPassword(t.Context(), "bob", "securepass"); err != ErrInvalidCredentials {
		t.Errorf("old password right after the change: %v", err)
	}
	if _, err := svc.VerifyPassword(t.Context(), "bob", "new-password-1"); err != nil {
		t.Errorf("new password: %v", err)
	}
}

func TestAPIKeys(t *testing.T) {
	svc, _, clock := newTestService(t, 4)
	john, _ := svc.UserPrincipalByName(t.Context(), "john")

	t.Run("demo keys verify with their permissions", func(t *testing.T) {
		p, err := svc.VerifyAPIKey(t.Context(), "sk_live_456")
		if err != nil || p.Username != "alice" || !p.Can("read") || p.Can("write") || p.Method != MethodAPIKey {
			t.Errorf("got %+v, %v", p, err)
		}
	})
	t.Run("a new key is shown once, stored as a digest, and works", func(t *testing.T) {
		k, err := svc.CreateAPIKey(t.Context(), john.UserID, "ci", []string{"write", "read", "read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.Key, "sk_live_") || k.Digest != Digest(k.Key) || strings.Contains(k.Digest, k.Key) || !strings.HasPrefix(k.Key, k.Prefix) {
			t.Errorf("key %+v", k)
		}
		if strings.Join(k.Permissions, ",") != "read,write" {
			t.Errorf("permissions = %v", k.Permissions)
		}
		if p, err := svc.VerifyAPIKey(t.Context(), k.Key); err != nil || p.KeyID != k.ID {
			t.Errorf("verify: %+v %v", p, err)
		}
	})
	t.Run("a revoked key stops working at once", func(t *testing.T) {
		k, _ := svc.CreateAPIKey(t.Context(), john.UserID, "temp", []string{"read"}, 0)
		if _, err := svc.VerifyAPIKey(t.Context(), k.Key); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.RevokeAPIKey(t.Context(), john.UserID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VerifyAPIKey(t.Context(), k.Key); err != ErrInvalidAPIKey {
			t.Errorf("after revoke: %v", err)
		}
	})
	t.Run("another user's key cannot be revoked", func(t *testing.T) {
		alice, _ := svc.UserPrincipalByName(t.Context(), "alice")
		k, _ := svc.CreateAPIKey(t.Context(), john.UserID, "johns", []string{"read"}, 0)
		if _, err := svc.RevokeAPIKey(t.Context(), alice.UserID, k.ID); !apperr.Is(err, apperr.KindNotFound) {
			t.Errorf("err = %v, want not found", err)
		}
	})
	t.Run("an expired key stops working to the second", func(t *testing.T) {
		k, _ := svc.CreateAPIKey(t.Context(), john.UserID, "short", []string{"read"}, time.Hour)
		clock.Advance(time.Hour - time.Second)
		if _, err := svc.VerifyAPIKey(t.Context(), k.Key); err != nil {
			t.Errorf("a second before expiry: %v", err)
		}
		clock.Advance(time.Second)
		if _, err := svc.VerifyAPIKey(t.Context(), k.Key); err != ErrInvalidAPIKey {
			t.Errorf("at expiry: %v", err)
		}
	})
	t.Run("bad input is validated", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			perms   []string
			expires time.Duration
		}{{"", []string{"read"}, 0}, {"x", nil, 0}, {"x", []string{"admin"}, 0}, {"x", []string{"read"}, time.Second}, {strings.Repeat("n", 65), []string{"read"}, 0}} {
			if _, err := svc.CreateAPIKey(t.Context(), john.UserID, tc.name, tc.perms, tc.expires); !apperr.Is(err, apperr.KindValidation) {
				t.Errorf("%+v: err = %v", tc, err)
			}
		}
		for _, key := range []string{"", strings.Repeat("k", 300), "sk_\x00"} {
			if _, err := svc.VerifyAPIKey(t.Context(), key); err != ErrInvalidAPIKey {
				t.Errorf("%q: %v", key, err)
			}
		}
	})
	t.Run("last use is recorded off the request path and flushed on close", func(t *testing.T) {
		k, _ := svc.CreateAPIKey(t.Context(), john.UserID, "used", []string{"read"}, 0)
		if _, err := svc.VerifyAPIKey(t.Context(), k.Key); err != nil {
			t.Fatal(err)
		}
		svc.usage.Flush(t.Context())
		keys, _ := svc.ListAPIKeys(t.Context(), john.UserID)
		for _, got := range keys {
			if got.ID == k.ID && got.LastUsedAt == nil {
				t.Errorf("last_used_at not recorded")
			}
		}
	})
}
