package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// Tests for the smaller findings of issue 8.

// demoSecrets are the article's demo passwords and keys: public, so a server without
// the demo data must not name them.
var demoSecrets = []string{"secret123", "supersecret", "password123", "securepass", "sk_test_123", "sk_live_456"}

func TestDocumentsNameNoDemoCredentialsWithoutDemoData(t *testing.T) {
	production := map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "DEMO_DATA": "false", "BCRYPT_COST": "10"}
	tests := []struct {
		name     string
		env      map[string]string
		wantDemo bool
	}{
		{"production names no demo credentials", production, false},
		{"development without demo data names none", map[string]string{"DEMO_DATA": "false"}, false},
		{"with demo data they are offered", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, tt.env)
			for _, path := range []string{"/openapi.json", "/docs"} {
				resp, body := a.do(t, request("GET", path, ""))
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("GET %s: %d", path, resp.StatusCode)
				}
				for _, s := range append([]string{"x-demo"}, demoSecrets...) {
					if path == "/docs" && s == "x-demo" {
						continue // the page never said x-demo, only what it holds
					}
					if got := strings.Contains(body, s); got != tt.wantDemo {
						t.Errorf("GET %s contains %q: %v, want %v", path, s, got, tt.wantDemo)
					}
				}
			}
		})
	}
}

// The 101st active key of a user is refused with a message saying what to do, to
// JSON clients and in the dashboard's form.
func TestKeysPerUserAreCapped(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.mustLogin(t, "alice", "password123")
	u, err := a.store.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := a.store.ListAPIKeys(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for range store.MaxActiveKeysPerUser - len(keys) { // alice has a demo key already
		if _, err := a.auth.CreateAPIKey(t.Context(), u.ID, "filler", []string{"read"}, 0); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a JSON client gets 422 with the reason on keys", func(t *testing.T) {
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/keys", `{"name":"one too many","permissions":["read"]}`), alice))
		e := envelope(t, body)
		want := []apperr.FieldError{{Field: "keys", Message: "at most 100 active keys; revoke one first"}}
		if resp.StatusCode != http.StatusUnprocessableEntity || e.Type != "validation_error" || !slices.Equal(e.Details, want) {
			t.Fatalf("101st key: %d %s, want 422 with details %v", resp.StatusCode, body, want)
		}
	})

	t.Run("the dashboard's form says so", func(t *testing.T) {
		c := a.client()
		c.login(t, "alice", "password123")
		token := c.token(t, "/dashboard")
		resp, body := c.form(t, "/keys", urlValues("name", "one too many", "permissions", "read", "expires_in", "720h", csrfFormField, token))
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("form: %d", resp.StatusCode)
		}
		mustContain(t, body, "You may have at most 100 active keys; revoke one first.")
	})
}

func TestClientKey(t *testing.T) {
	tests := []struct{ name, ip, want string }{
		{"an IPv4 address is its own client", "203.0.113.7", "203.0.113.7"},
		{"an IPv6 address counts by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address of the same /64 is the same client", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"the next /64 is another client", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"an IPv4-mapped address is left alone, not made every IPv4 client's /64", "::ffff:203.0.113.7", "::ffff:203.0.113.7"},
		{"a zone does not split a /64", "fe80::1%eth0", "fe80::/64"},
		{"the unspecified address (app.Test's peer) is left alone", "0.0.0.0", "0.0.0.0"},
		{"what is not an address is left alone", "not-an-ip", "not-an-ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := clientKey(tt.ip); got != tt.want {
				t.Errorf("clientKey(%q) = %q, want %q", tt.ip, got, tt.want)
			}
		})
	}
}

// The API rate limit counts an IPv6 client by its /64: a host that moves between
// the addresses of its /64 does not get a new allowance with each.
func TestRateLimitGroupsIPv6By64(t *testing.T) {
	tests := []struct {
		name      string
		addresses []string // X-Forwarded-For of three requests, through a trusted proxy
		wantThird int
	}{
		{"two addresses of one /64 share a counter", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"}, 429},
		{"addresses of different /64s do not", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:3::1"}, 200},
		{"IPv4 addresses are counted one by one", []string{"203.0.113.1", "203.0.113.1", "203.0.113.2"}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// app.Test's peer, 0.0.0.0, is the trusted proxy.
			a := newTestApp(t, map[string]string{"TRUSTED_PROXIES": "0.0.0.0/32", "RATE_LIMIT_MAX": "2"})
			var status int
			for _, ip := range tt.addresses {
				resp, _ := a.do(t, request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123", "X-Forwarded-For", ip))
				status = resp.StatusCode
			}
			if status != tt.wantThird {
				t.Errorf("third request: %d, want %d", status, tt.wantThird)
			}
		})
	}
}
