package web

import (
	"encoding/json"
	"strings"
	"testing"
)

// One log line per request with what an operator needs, and never a credential.
func TestAccessLogCarriesNoSecrets(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.mustLogin(t, "alice", "password123")
	a.do(t, request("GET", "/basic/profile?token=query-secret", "", "Authorization", basicAuth("john", "secret123")))
	a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer sk_test_123"))
	a.do(t, request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456"))
	a.do(t, withCookie(request("GET", "/dashboard", ""), c))
	a.do(t, jsonRequest("POST", "/login", `{"username":"bob","password":"wrong-secret-pw"}`))

	logs := a.logs.String()
	for _, secret := range []string{"secret123", "password123", "wrong-secret-pw", "sk_test_123", "sk_live_456", c.Value, "query-secret", "am9objpzZWNyZXQxMjM"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	var lines int
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if entry["msg"] != "request" {
			continue
		}
		lines++
		for _, field := range []string{"request_id", "method", "path", "status", "latency_ms", "client_ip"} {
			if _, ok := entry[field]; !ok {
				t.Errorf("log line lacks %s: %s", field, line)
			}
		}
	}
	if lines != 6 {
		t.Errorf("%d request lines for 6 requests:\n%s", lines, logs)
	}
}

// Security headers and a request ID on every response, errors included.
func TestSecurityHeaders(t *testing.T) {
	a := newTestApp(t, nil)
	for _, path := range []string{"/healthz", "/no/such/route", "/basic/profile"} {
		resp, _ := a.do(t, request("GET", path, ""))
		for header, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "SAMEORIGIN",
			"Referrer-Policy":         "same-origin",
		} {
			if got := resp.Header.Get(header); !strings.HasPrefix(got, want) {
				t.Errorf("%s: %s = %q, want %q...", path, header, got, want)
			}
		}
		// ASVS 5.0 3.4.3 and 3.4.6: no plugins, no <base>, no framing.
		csp := resp.Header.Get("Content-Security-Policy")
		for _, directive := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "script-src 'self'"} {
			if !strings.Contains(csp, directive) {
				t.Errorf("%s: the CSP %q lacks %s", path, csp, directive)
			}
		}
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("%s: no X-Request-ID", path)
		}
	}
	resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")))
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("authenticated response Cache-Control = %q", got)
	}
	resp, _ = a.do(t, request("GET", "/healthz", "", "X-Request-ID", "trace-abc.123"))
	if got := resp.Header.Get("X-Request-ID"); got != "trace-abc.123" {
		t.Errorf("a well-formed caller request ID was not kept: %q", got)
	}
}

func TestCORS(t *testing.T) {
	t.Run("no CORS by default", func(t *testing.T) {
		a := newTestApp(t, nil)
		resp, _ := a.do(t, request("OPTIONS", "/apikey/data", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET"))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin = %q", got)
		}
	})
	t.Run("configured origins are allowed, without credentials", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"CORS_ALLOW_ORIGINS": "https://app.example"})
		resp, _ := a.do(t, request("OPTIONS", "/apikey/data", "", "Origin", "https://app.example", "Access-Control-Request-Method", "GET"))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
			t.Errorf("Access-Control-Allow-Origin = %q", got)
		}
		if got := resp.Header.Get("Access-Control-Allow-Credentials"); got == "true" {
			t.Error("credentials allowed")
		}
		resp, _ = a.do(t, request("OPTIONS", "/apikey/data", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "GET"))
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("other origin allowed: %q", got)
		}
	})
}

func TestReadiness(t *testing.T) {
	a := newTestApp(t, nil)
	if resp, body := a.do(t, request("GET", "/readyz", "")); resp.StatusCode != 200 {
		t.Fatalf("ready: %d %s", resp.StatusCode, body)
	}
	a.store.Close() // the database goes away
	resp, body := a.do(t, request("GET", "/readyz", ""))
	if e := envelope(t, body); resp.StatusCode != 503 || e.Type != "service_unavailable_error" {
		t.Errorf("not ready: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.do(t, request("GET", "/healthz", "")); resp.StatusCode != 200 {
		t.Errorf("healthz follows the database: %d", resp.StatusCode)
	}
	resp, body = a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("bob", "securepass")))
	if resp.StatusCode < 500 || strings.Contains(body, "sql") {
		t.Errorf("with the database down: %d %s", resp.StatusCode, body)
	}
}
