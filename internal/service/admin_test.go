package service

import (
	"strings"
	"testing"

	"fiberauth/internal/testenv"
)

// A user an admin disables on one instance is refused on the other at once, by
// every method, though that instance had just cached their Basic credential and
// key; enabling them on one lets them in on the other at once too.
func TestDisableAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, testenv.RedisURL(t), map[string]string{"RATE_LIMIT_MAX": "1000"})
	// alice on a: a session, and a Basic credential and a key used (so cached) twice.
	login, body := send(t, a, "POST", "/login", `{"username":"alice","password":"password123"}`, "Content-Type", "application/json")
	if login.StatusCode != 200 {
		t.Fatalf("login on a: %d %s", login.StatusCode, body)
	}
	aliceSession := sessionCookie(t, login)
	for range 2 {
		for _, h := range [][2]string{{"Authorization", basic("alice", "password123")}, {"X-API-Key", "sk_live_456"}} {
			path := "/basic/profile"
			if h[0] == "X-API-Key" {
				path = "/apikey/data"
			}
			if resp, body := send(t, a, "GET", path, "", h[0], h[1]); resp.StatusCode != 200 {
				t.Fatalf("%s on a: %d %s", path, resp.StatusCode, body)
			}
		}
	}
	if !a.Auth.RecentlyVerified("alice", "password123") {
		t.Fatal("a has not cached alice's Basic credential")
	}

	// The admin, on b.
	adminLogin, body := send(t, b, "POST", "/login", `{"username":"admin","password":"supersecret"}`, "Content-Type", "application/json")
	if adminLogin.StatusCode != 200 {
		t.Fatalf("admin login on b: %d %s", adminLogin.StatusCode, body)
	}
	admin := sessionCookie(t, adminLogin)
	if resp, body := send(t, b, "POST", "/admin/users/3/disable", "", "Cookie", admin); resp.StatusCode != 200 || !strings.Contains(body, `"username":"alice"`) {
		t.Fatalf("disable on b: %d %s", resp.StatusCode, body)
	}

	disabled := `"Account disabled"`
	for _, tt := range []struct {
		name, method, path, body string
		headers                  []string
		wantStatus               int
		wantBody                 string
	}{
		{"the cached Basic credential", "GET", "/basic/profile", "", []string{"Authorization", basic("alice", "password123")}, 403, disabled},
		{"a wrong Basic password", "GET", "/basic/profile", "", []string{"Authorization", basic("alice", "wrong-password")}, 401, `"Invalid credentials"`},
		{"the cached key", "GET", "/apikey/data", "", []string{"X-API-Key", "sk_live_456"}, 403, disabled},
		{"the session", "GET", "/dashboard", "", []string{"Cookie", aliceSession}, 401, `"Not authenticated"`},
		{"a login", "POST", "/login", `{"username":"alice","password":"password123"}`, []string{"Content-Type", "application/json"}, 403, disabled},
	} {
		t.Run(tt.name+" is refused on the other instance at once", func(t *testing.T) {
			resp, body := send(t, a, tt.method, tt.path, tt.body, tt.headers...)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("on a: %d %s, want %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
		})
	}

	t.Run("enabled on one instance, let in on the other at once", func(t *testing.T) {
		if resp, body := send(t, a, "POST", "/admin/users/3/enable", "", "Cookie", admin); resp.StatusCode != 200 {
			t.Fatalf("enable on a: %d %s", resp.StatusCode, body)
		}
		if resp, body := send(t, b, "GET", "/basic/profile", "", "Authorization", basic("alice", "password123")); resp.StatusCode != 200 {
			t.Errorf("Basic on b: %d %s", resp.StatusCode, body)
		}
		if resp, body := send(t, b, "GET", "/apikey/data", "", "X-API-Key", "sk_live_456"); resp.StatusCode != 200 {
			t.Errorf("key on b: %d %s", resp.StatusCode, body)
		}
	})
}
