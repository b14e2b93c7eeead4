package web

import (
	"net/http"
	"strings"
	"testing"
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
