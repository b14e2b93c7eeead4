package web

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "3", "RATE_LIMIT_WINDOW": "1s"})
	get := func() (*http.Response, string) {
		return a.do(t, request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123"))
	}
	for i := range 3 {
		if resp, body := get(); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := get()
	if e := envelope(t, body); resp.StatusCode != 429 || e.Type != "rate_limit_error" {
		t.Fatalf("4th request: %d %s", resp.StatusCode, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 0 || s > 1 {
		t.Errorf("Retry-After = %q", resp.Header.Get("Retry-After"))
	}
	// The limiter's clock ticks in whole seconds: poll until the window has passed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(250 * time.Millisecond)
		if resp, _ := get(); resp.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still limited 5s after a 1s window")
		}
	}
}

func TestFailedLoginThrottle(t *testing.T) {
	loginJSON := func(user, pass string) *http.Request {
		return jsonRequest("POST", "/login", `{"username":"`+user+`","password":"`+pass+`"}`)
	}
	basic := func(user, pass string) *http.Request {
		return request("GET", "/basic/profile", "", "Authorization", basicAuth(user, pass))
	}
	for name, try := range map[string]func(user, pass string) *http.Request{"login form": loginJSON, "basic": basic} {
		t.Run(name+": the 6th try for a username and IP is refused, another user is not", func(t *testing.T) {
			a := newTestApp(t, nil) // LOGIN_MAX_FAILURES=5 by default
			for i := range 5 {
				if resp, _ := a.do(t, try("alice", "wrong-password")); resp.StatusCode != 401 {
					t.Fatalf("failure %d: %d, want 401", i+1, resp.StatusCode)
				}
			}
			resp, body := a.do(t, try("alice", "password123"))
			if e := envelope(t, body); resp.StatusCode != 429 || e.Type != "rate_limit_error" || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("6th try with the right password: %d %s", resp.StatusCode, body)
			}
			if resp, _ := a.do(t, try("ALICE", "password123")); resp.StatusCode != 429 {
				t.Errorf("the username's case dodges the throttle: %d", resp.StatusCode)
			}
			if resp, body := a.do(t, try("bob", "securepass")); resp.StatusCode != 200 {
				t.Errorf("another user from the same IP: %d %s", resp.StatusCode, body)
			}
		})
	}

	t.Run("successes and 403s do not count as failures", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "2"})
		for i := range 6 {
			if resp, _ := a.do(t, request("GET", "/basic/admin", "", "Authorization", basicAuth("john", "secret123"))); resp.StatusCode != 403 {
				t.Fatalf("admin try %d: %d, want 403", i+1, resp.StatusCode)
			}
			if resp, _ := a.do(t, loginJSON("john", "secret123")); resp.StatusCode != 200 {
				t.Fatalf("login %d: %d, want 200", i+1, resp.StatusCode)
			}
		}
	})

	t.Run("the client IP comes from X-Forwarded-For only behind a trusted proxy", func(t *testing.T) {
		// app.Test connects from 0.0.0.0; trusting it makes the header count.
		for _, tc := range []struct {
			trusted    string
			wantStatus int
		}{{"", 429}, {"0.0.0.0/32", 401}} {
			a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "1", "TRUSTED_PROXIES": tc.trusted})
			for i := range 2 {
				req := loginJSON("alice", "wrong-password")
				req.Header.Set("X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
				resp, _ := a.do(t, req)
				if i == 1 && resp.StatusCode != tc.wantStatus {
					t.Errorf("TRUSTED_PROXIES=%q: 2nd failure from a new forwarded IP got %d, want %d", tc.trusted, resp.StatusCode, tc.wantStatus)
				}
			}
		}
	})
}
