package web

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/sessions"
)

// Tests for the places where the suite was blind (issue 8): each one fails on a bug
// that every other test let through. The comment above each says which.

// An expired key must be refused on its very first use, when nothing about it is
// cached yet: every other expiry test used the key before it expired, so the check
// on a cache miss went untested.
func TestExpiredKeyRefusedOnFirstUse(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.mustLogin(t, "alice", "password123")
	tests := []struct {
		name   string
		header string // how the key is sent
	}{
		{"a key expired before its first use is refused in X-API-Key", "X-API-Key"},
		{"a key expired before its first use is refused as a bearer token", "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := blindCreateKey(t, a, alice, `{"name":"short-lived","permissions":["read"],"expires_in":"1m"}`)
			a.clock.Advance(61 * time.Second) // past the expiry, before any use
			value := key
			if tt.header == "Authorization" {
				value = "Bearer " + key
			}
			resp, body := a.do(t, request("GET", "/apikey/data", "", tt.header, value))
			if resp.StatusCode != http.StatusUnauthorized || envelope(t, body).Message != "Invalid API Key" {
				t.Fatalf("expired key on its first use: %d %s, want 401 Invalid API Key", resp.StatusCode, body)
			}
			// And it stays refused once its answer is cached.
			if resp, body := a.do(t, request("GET", "/whoami", "", tt.header, value)); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("expired key, second use: %d %s, want 401", resp.StatusCode, body)
			}
		})
	}
}

// blindCreateKey creates a key through POST /keys with the session cookie and
// returns its secret.
func blindCreateKey(t *testing.T, a *testApp, session *http.Cookie, body string) string {
	t.Helper()
	resp, raw := a.do(t, withCookie(jsonRequest("POST", "/keys", body), session))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /keys %s: %d %s", body, resp.StatusCode, raw)
	}
	var created keyCreatedResponse
	if err := json.Unmarshal([]byte(raw), &created); err != nil || created.Key == "" {
		t.Fatalf("POST /keys: %q (%v)", raw, err)
	}
	return created.Key
}

// X-Forwarded-For counts only when the peer is a trusted proxy. No test set
// proxies that exclude the peer, so a resolveClientIP that believed the header
// from anyone, as long as some proxy was configured, passed.
func TestForwardedForIgnoredFromAnUntrustedPeer(t *testing.T) {
	// app.Test connects from 0.0.0.0, which 10.0.0.0/8 does not contain.
	a := newTestApp(t, map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8", "RATE_LIMIT_MAX": "2"})
	for i := range 3 {
		req := request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123",
			"X-Forwarded-For", "203.0.113."+strconv.Itoa(i+1))
		resp, body := a.do(t, req)
		want := http.StatusOK
		if i == 2 {
			want = http.StatusTooManyRequests // the peer's third request, whatever it claims
		}
		if resp.StatusCode != want {
			t.Fatalf("request %d with a forged X-Forwarded-For: %d %s, want %d", i+1, resp.StatusCode, body, want)
		}
	}
	if strings.Contains(a.logs.String(), "203.0.113.") {
		t.Errorf("the access log believed a forged X-Forwarded-For:\n%s", a.logs)
	}
}

// A user sees only their own keys and events. Nothing checked that another user's
// rows are absent, so listing every user's keys (userID 0) or everyone's events
// (username "") passed.
func TestUsersSeeOnlyTheirOwnKeysAndEvents(t *testing.T) {
	// 0.0.0.0 (app.Test's peer) is trusted, so bob can log in from an address of
	// his own, which would show in alice's activity if she saw his events.
	a := newTestApp(t, map[string]string{"TRUSTED_PROXIES": "0.0.0.0/32"})
	const bobIP = "198.51.100.77"

	bob := a.mustLoginFrom(t, "bob", "securepass", bobIP)
	if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("bob", "wrong-password"),
		"X-Forwarded-For", bobIP)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bob's failed login: %d", resp.StatusCode)
	}
	bobKey := blindCreateKey(t, a, bob, `{"name":"bobs-private-key","permissions":["read"]}`)
	bobPrefix := bobKey[:12]

	alice := a.mustLogin(t, "alice", "password123")
	aliceKey := blindCreateKey(t, a, alice, `{"name":"alices-own-key","permissions":["read"]}`)

	t.Run("GET /keys lists only the caller's keys", func(t *testing.T) {
		resp, body := a.do(t, withCookie(request("GET", "/keys", ""), alice))
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /keys: %d %s", resp.StatusCode, body)
		}
		var list struct{ Keys []keyResponse }
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var own bool
		for _, k := range list.Keys {
			if k.Name == "bobs-private-key" || k.Prefix == bobPrefix {
				t.Errorf("alice's list has bob's key: %+v", k)
			}
			own = own || k.Prefix == aliceKey[:12]
		}
		if !own {
			t.Errorf("alice's list lacks her own key: %s", body)
		}
		mustNotContain(t, body, "bobs-private-key", bobPrefix, "Demo key (read, write)") // john's demo key
	})

	t.Run("the dashboard shows only the caller's keys and activity", func(t *testing.T) {
		c := a.client()
		c.jar[sessions.CookieName] = alice
		resp, body := c.page(t, "/dashboard")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /dashboard: %d", resp.StatusCode)
		}
		mustContain(t, body, "alices-own-key") // the page does list keys and events
		mustNotContain(t, body, "bobs-private-key", bobPrefix, bobIP)
	})
}

// mustLoginFrom is mustLogin from a client address given in X-Forwarded-For (the
// app must trust app.Test's peer, 0.0.0.0).
func (a *testApp) mustLoginFrom(t testing.TB, username, password, ip string) *http.Cookie {
	t.Helper()
	resp, body := a.do(t, jsonRequest("POST", "/login", `{"username":"`+username+`","password":"`+password+`"}`,
		"X-Forwarded-For", ip))
	c := cookie(resp, sessions.CookieName)
	if resp.StatusCode != http.StatusOK || c == nil {
		t.Fatalf("login as %s from %s: %d %s", username, ip, resp.StatusCode, body)
	}
	return c
}

// What depends on who is asking is never stored by a cache, whatever the answer;
// nothing checked it on the API-key and Basic routes.
func TestCredentialRoutesAreNotCached(t *testing.T) {
	a := newTestApp(t, nil)
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
	}{
		{"GET /apikey/data with a key", request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123"), 200},
		{"GET /apikey/data without a key", request("GET", "/apikey/data", ""), 401},
		{"GET /apikey/data with a wrong key", request("GET", "/apikey/data", "", "X-API-Key", "sk_wrong"), 401},
		{"POST /apikey/create with a key", jsonRequest("POST", "/apikey/create", `{"a":1}`, "Authorization", "Bearer sk_test_123"), 200},
		{"POST /apikey/create without a key", jsonRequest("POST", "/apikey/create", `{"a":1}`), 401},
		{"GET /basic/profile with a password", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")), 200},
		{"GET /basic/profile without one", request("GET", "/basic/profile", ""), 401},
		{"GET /whoami with a key", request("GET", "/whoami", "", "X-API-Key", "sk_live_456"), 200},
		{"GET /whoami with a password", request("GET", "/whoami", "", "Authorization", basicAuth("john", "secret123")), 200},
		{"GET /whoami anonymous", request("GET", "/whoami", ""), 401},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is no-store", func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := resp.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

// HSTS is sent in production over https, and only there. Nothing tested the
// production side, so turning it off everywhere passed.
func TestStrictTransportSecurityInProduction(t *testing.T) {
	// BCRYPT_COST=10 is the lowest production allows; nothing here hashes a password.
	prod := newTestApp(t, map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "DEMO_DATA": "false", "BCRYPT_COST": "10"})
	dev := newTestApp(t, nil)
	tests := []struct {
		name     string
		app      *testApp
		proto    string // X-Forwarded-Proto, which helmet reads through c.Protocol()
		wantHSTS bool
	}{
		{"production over https sends HSTS", prod, "https", true},
		{"production over plain http sends none", prod, "", false},
		{"outside production https sends none", dev, "https", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := request("GET", "/healthz", "")
			if tt.proto != "" {
				req.Header.Set("X-Forwarded-Proto", tt.proto)
			}
			resp, _ := tt.app.do(t, req)
			got := resp.Header.Get("Strict-Transport-Security")
			if tt.wantHSTS && !strings.HasPrefix(got, "max-age=31536000") {
				t.Errorf("Strict-Transport-Security = %q, want max-age=31536000 (a year)", got)
			}
			if !tt.wantHSTS && got != "" {
				t.Errorf("Strict-Transport-Security = %q, want none", got)
			}
		})
	}
}

// A well-formed session ID that the server never issued is not adopted at login.
// The older test used an ID of another shape, which DropForeignCookie removes
// before the login sees it, so it could not tell whether login adopts IDs.
func TestPlantedSessionIDIsNotAdopted(t *testing.T) {
	const planted = "K7QX3M2ZP4TR6WN5BV2CYH7JDE" // the shape our session IDs have
	plantedCookie := &http.Cookie{Name: sessions.CookieName, Value: planted}

	t.Run("a JSON login with a planted ID gets a new one, and the planted one stays anonymous", func(t *testing.T) {
		a := newTestApp(t, nil)
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), plantedCookie))
		after := cookie(resp, sessions.CookieName)
		if resp.StatusCode != http.StatusOK || after == nil || after.Value == "" || after.Value == planted {
			t.Fatalf("login with a planted ID: %d %s, cookie %+v", resp.StatusCode, body, after)
		}
		blindWantSession(t, a, plantedCookie, false)
		blindWantSession(t, a, after, true)
	})

	t.Run("a login carrying another user's live session ID gets a new one", func(t *testing.T) {
		// The classic fixation: the attacker logs in as themself and plants their own,
		// stored, session ID in the victim's browser.
		a := newTestApp(t, nil)
		attacker := a.mustLogin(t, "bob", "securepass")
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), attacker))
		after := cookie(resp, sessions.CookieName)
		if resp.StatusCode != http.StatusOK || after == nil || after.Value == attacker.Value {
			t.Fatalf("login with a planted live ID: %d %s, cookie %+v", resp.StatusCode, body, after)
		}
		if resp, body := a.do(t, withCookie(request("GET", "/dashboard", ""), attacker)); strings.Contains(body, "alice") {
			t.Fatalf("the planted ID is now alice's session: %d %s", resp.StatusCode, body)
		}
		blindWantSession(t, a, after, true)
	})

	t.Run("a form login with a planted ID gets an ID it never held before", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.client()
		c.jar[sessions.CookieName] = plantedCookie
		before := map[string]bool{planted: true}
		token := c.token(t, "/login")
		// The login page may hand out a session of its own (for the CSRF token): an
		// attacker could get one just the same, so it must not survive the login either.
		if ck := c.jar[sessions.CookieName]; ck != nil {
			before[ck.Value] = true
		}
		resp, body := c.form(t, "/login", urlValues("username", "alice", "password", "password123", csrfFormField, token))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("form login: %d %s", resp.StatusCode, body)
		}
		after := c.jar[sessions.CookieName]
		if after == nil || before[after.Value] {
			t.Fatalf("the session after login is one held before it: %+v (before: %v)", after, before)
		}
		for id := range before {
			blindWantSession(t, a, &http.Cookie{Name: sessions.CookieName, Value: id}, false)
		}
		blindWantSession(t, a, after, true)
	})
}

// blindWantSession checks whether a session cookie is logged in (as alice).
func blindWantSession(t *testing.T, a *testApp, c *http.Cookie, loggedIn bool) {
	t.Helper()
	resp, body := a.do(t, withCookie(request("GET", "/dashboard", ""), c))
	switch {
	case loggedIn && body != `{"message":"Welcome to your dashboard, alice!"}`:
		t.Errorf("session %s: %d %s, want alice's dashboard", c.Value, resp.StatusCode, body)
	case !loggedIn && resp.StatusCode != http.StatusUnauthorized:
		t.Errorf("session %s authenticates: %d %s, want 401", c.Value, resp.StatusCode, body)
	}
}
