package store

import (
	"path/filepath"
	"testing"
	"time"

	"fiberauth/internal/apperr"
	"fiberauth/internal/testenv"
)

// forEachBackend runs fn against a fresh, migrated store on every backend: a temp
// SQLite file always, and PostgreSQL when TEST_POSTGRES_URL is set.
func forEachBackend(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Helper()
	forEachBackendURL(t, func(t *testing.T, databaseURL string) {
		fn(t, openTestStore(t, databaseURL))
	})
}

// forEachBackendURL is forEachBackend for tests that open the database themselves,
// for example to reopen it: fn gets the URL of an empty database.
func forEachBackendURL(t *testing.T, fn func(t *testing.T, databaseURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, filepath.Join(t.TempDir(), "test.db"))
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, testenv.PostgresURL(t))
	})
}

func openTestStore(t *testing.T, databaseURL string) Store {
	t.Helper()
	s, err := Open(t.Context(), databaseURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustCreateUser(t *testing.T, s Store, username, role string) User {
	t.Helper()
	u := User{Username: username, PasswordHash: "hash:" + username, Role: role}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser(%q): %v", username, err)
	}
	return u
}

func mustCreateKey(t *testing.T, s Store, userID int64, digest string, expiresAt *time.Time, perms ...string) APIKey {
	t.Helper()
	k := APIKey{UserID: userID, Name: "key " + digest, Prefix: "sk_" + digest[:2], Digest: digest,
		Permissions: perms, ExpiresAt: expiresAt}
	if err := s.CreateAPIKey(t.Context(), &k); err != nil {
		t.Fatalf("CreateAPIKey(%q): %v", digest, err)
	}
	return k
}

func wantKind(t *testing.T, err error, want apperr.Kind) {
	t.Helper()
	if !apperr.Is(err, want) {
		t.Fatalf("error = %v (kind %d), want kind %d", err, apperr.KindOf(err), want)
	}
}

func wantNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// sameTime compares two optional times.
func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}
