package web

import (
	"net/http"
	"strconv"
	"testing"
)

// Findings of a security review, each pinned by a test.
func TestHardening(t *testing.T) {
	t.Run("a proxy's second X-Forwarded-For line cannot be dodged by the client's first", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "3", "TRUSTED_PROXIES": "0.0.0.0/32"})
		for i := range 4 {
			req := request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123",
				"X-Forwarded-For", "7.7.7."+strconv.Itoa(i), "X-Forwarded-For", "5.5.5.5")
			resp, _ := a.do(t, req)
			if want := map[bool]int{true: 429, false: 200}[i == 3]; resp.StatusCode != want {
				t.Fatalf("request %d: %d, want %d", i+1, resp.StatusCode, want)
			}
		}
	})

	t.Run("requests without Basic credentials do not use up the login attempts", func(t *testing.T) {
		a := newTestApp(t, nil)
		for i := range 8 {
			resp, _ := a.do(t, request("GET", "/basic/profile", ""))
			if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("anonymous request %d: %d %q", i+1, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		}
		if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123"))); resp.StatusCode != 200 {
			t.Errorf("then with the right password: %d", resp.StatusCode)
		}
	})

	t.Run("guessing the current password on a password change is throttled", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.mustLogin(t, "bob", "securepass")
		for i := range 5 {
			resp, body := a.do(t, withCookie(jsonRequest("POST", "/account/password", `{"current_password":"guess-`+strconv.Itoa(i)+`","new_password":"new-password-1"}`), c))
			if resp.StatusCode != 422 {
				t.Fatalf("wrong guess %d: %d %s", i+1, resp.StatusCode, body)
			}
		}
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/account/password", `{"current_password":"securepass","new_password":"new-password-1"}`), c))
		if resp.StatusCode != 429 {
			t.Errorf("6th try, with the right password: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("logins count against the client's rate limit", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "3"})
		var last *http.Response
		for i := range 4 {
			last, _ = a.do(t, jsonRequest("POST", "/login", `{"username":"user`+strconv.Itoa(i)+`","password":"spray-password"}`))
		}
		if last.StatusCode != 429 {
			t.Errorf("4th login from one address: %d, want 429", last.StatusCode)
		}
	})

	t.Run("a key ID has one spelling", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.mustLogin(t, "alice", "password123")
		id := keyIDByName(t, a, "alice")
		for _, path := range []string{"/keys/+" + strconv.FormatInt(id, 10), "/keys/0" + strconv.FormatInt(id, 10), "/keys/abc", "/keys/-1", "/keys/99999999999999999999"} {
			if resp, _ := a.do(t, withCookie(request("DELETE", path, ""), c)); resp.StatusCode != 404 {
				t.Errorf("DELETE %s: %d, want 404", path, resp.StatusCode)
			}
		}
	})

	t.Run("a session cookie naming another storage key is ignored", func(t *testing.T) {
		a := newTestApp(t, nil)
		a.do(t, request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123")) // writes rate:0.0.0.0
		for _, id := range []string{"rate:0.0.0.0", "user-sessions:3", "login-failures:|0.0.0.0"} {
			forged := &http.Cookie{Name: "session_id", Value: id}
			if resp, body := a.do(t, withCookie(jsonRequest("POST", "/login", `{"username":"bob","password":"securepass"}`), forged)); resp.StatusCode != 200 {
				t.Errorf("login with cookie %q: %d %s", id, resp.StatusCode, body)
			}
			if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), forged)); resp.StatusCode != 401 {
				t.Errorf("dashboard with cookie %q: %d", id, resp.StatusCode)
			}
		}
		if resp, _ := a.do(t, request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123")); resp.StatusCode != 200 {
			t.Errorf("the rate counter was disturbed: %d", resp.StatusCode)
		}
	})

	t.Run("key names with control characters are refused", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.mustLogin(t, "alice", "password123")
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/keys", `{"name":"a\u0000\u001b[31mb","permissions":["read"]}`), c))
		if e := envelope(t, body); resp.StatusCode != 422 || e.Details[0].Field != "name" {
			t.Errorf("got %d %s", resp.StatusCode, body)
		}
	})
}
