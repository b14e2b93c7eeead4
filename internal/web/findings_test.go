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
	production := map[string]string{"APP_ENV": "production", "DEMO_DATA": "false", "BCRYPT_COST": "10"}
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
