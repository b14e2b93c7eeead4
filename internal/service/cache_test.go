package service_test

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"

	"fiberauth/internal/config"
	"fiberauth/internal/service"
)

// These tests drive the app as service.New builds it for production, through HTTP,
// to check that caching and throttling never change an answer: what a revoke or a
// password change refuses is refused on the very next request, and a client that
// is right is never throttled for sending requests in parallel.

func newTestServer(t *testing.T) *service.Server {
	t.Helper()
	vars := map[string]string{
		"APP_ENV":        "test",
		"BCRYPT_COST":    "4",
		"DEMO_DATA":      "true",
		"DATABASE_URL":   filepath.Join(t.TempDir(), "test.db"),
		"RATE_LIMIT_MAX": "1000000",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := service.New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// get sends GET path with an Authorization header and returns status and Retry-After.
func get(t *testing.T, srv *service.Server, path, authorization string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", authorization)
	resp, err := srv.App.Test(req, -1)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func wantStatus(t *testing.T, srv *service.Server, path, authorization string, want int) {
	t.Helper()
	if got, _ := get(t, srv, path, authorization); got != want {
		t.Fatalf("GET %s: %d, want %d", path, got, want)
	}
}

func TestCachedCredentialsOverHTTP(t *testing.T) {
	t.Run("the old password is refused right after a change", func(t *testing.T) {
		srv := newTestServer(t)
		wantStatus(t, srv, "/basic/profile", basic("john", "secret123"), http.StatusOK)
		wantStatus(t, srv, "/basic/profile", basic("john", "secret123"), http.StatusOK) // cached
		john, err := srv.Auth.UserPrincipalByName(t.Context(), "john")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Auth.ChangePassword(t.Context(), john.UserID, "secret123", "a-new-password"); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, srv, "/basic/profile", basic("john", "secret123"), http.StatusUnauthorized)
		wantStatus(t, srv, "/basic/profile", basic("john", "a-new-password"), http.StatusOK)
	})

	t.Run("a revoked key is refused on the very next request", func(t *testing.T) {
		srv := newTestServer(t)
		alice, err := srv.Auth.UserPrincipalByName(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		k, err := srv.Auth.CreateAPIKey(t.Context(), alice.UserID, "ci", []string{"read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, srv, "/apikey/data", "Bearer "+k.Key, http.StatusOK)
		wantStatus(t, srv, "/apikey/data", "Bearer "+k.Key, http.StatusOK) // cached
		if _, err := srv.Auth.RevokeAPIKey(t.Context(), alice.UserID, k.ID); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, srv, "/apikey/data", "Bearer "+k.Key, http.StatusUnauthorized)
	})

	t.Run("parallel requests with the right password are never throttled", func(t *testing.T) {
		// Far more than LOGIN_MAX_FAILURES at once, on a cold cache: the repeats share
		// the first request's check instead of each taking a failure slot.
		srv := newTestServer(t)
		const parallel = 30
		statuses := make(chan int, parallel)
		var wg sync.WaitGroup
		for range parallel {
			wg.Go(func() {
				status, _ := get(t, srv, "/basic/profile", basic("john", "secret123"))
				statuses <- status
			})
		}
		wg.Wait()
		close(statuses)
		for status := range statuses {
			if status != http.StatusOK {
				t.Errorf("got %d, want 200", status)
			}
		}
		wantStatus(t, srv, "/basic/profile", basic("john", "wrong-password"), http.StatusUnauthorized)
	})

	t.Run("once blocked, even a cached right password is refused", func(t *testing.T) {
		srv := newTestServer(t)
		wantStatus(t, srv, "/basic/profile", basic("john", "secret123"), http.StatusOK) // now cached
		for range 5 {
			wantStatus(t, srv, "/basic/profile", basic("john", "wrong-password"), http.StatusUnauthorized)
		}
		status, retryAfter := get(t, srv, "/basic/profile", basic("john", "secret123"))
		if status != http.StatusTooManyRequests || retryAfter == "" {
			t.Errorf("right password while blocked: %d (Retry-After %q), want 429 with Retry-After", status, retryAfter)
		}
		wantStatus(t, srv, "/basic/profile", basic("bob", "securepass"), http.StatusOK) // others unaffected
	})
}
