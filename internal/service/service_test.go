package service

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/config"
	"fiberauth/internal/testenv"
)

func testConfig(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	env := map[string]string{"APP_ENV": "test", "BCRYPT_COST": "4", "DEMO_DATA": "true",
		"DATABASE_URL": filepath.Join(t.TempDir(), "svc.db"),
		// One key for every instance a test opens on a database, as production
		// requires: what one seals (token signing keys) the others must open.
		"SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}
	for k, v := range vars {
		env[k] = v
	}
	cfg, err := config.Load(func(k string) string { return env[k] }, "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newServer(t *testing.T, cfg config.Config) *Server {
	t.Helper()
	srv, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("service.New: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.App.Shutdown()
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

func send(t *testing.T, srv *Server, method, path, body string, headers ...string) (*http.Response, string) {
	t.Helper()
	req := testenv.Request(method, path, body, headers...)
	resp, err := srv.App.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sessionCookie(t *testing.T, resp *http.Response) string {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "session_id" && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatalf("no session cookie in %v", resp.Header)
	return ""
}

// Two instances on one PostgreSQL and one Redis behave as one service: any instance
// serves any request (design.md, Scale).
func TestInstancesShareState(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL":   testenv.PostgresURL(t),
		"REDIS_URL":      testenv.RedisURL(t),
		"RATE_LIMIT_MAX": "1000", "LOGIN_MAX_FAILURES": "5",
	})
	a, b := newServer(t, cfg), newServer(t, cfg)

	t.Run("a session started on one instance works on the other, and ends on both", func(t *testing.T) {
		resp, body := send(t, a, "POST", "/login", `{"username":"alice","password":"password123"}`, "Content-Type", "application/json")
		if resp.StatusCode != 200 {
			t.Fatalf("login on A: %d %s", resp.StatusCode, body)
		}
		c := sessionCookie(t, resp)
		if resp, body := send(t, b, "GET", "/dashboard", "", "Cookie", c); body != `{"message":"Welcome to your dashboard, alice!"}` {
			t.Fatalf("dashboard on B: %d %s", resp.StatusCode, body)
		}
		send(t, b, "POST", "/logout", "", "Cookie", c)
		if resp, _ := send(t, a, "GET", "/dashboard", "", "Cookie", c); resp.StatusCode != 401 {
			t.Errorf("dashboard on A after logout on B: %d", resp.StatusCode)
		}
	})

	t.Run("failed logins are counted across instances", func(t *testing.T) {
		for i := range 5 {
			srv := []*Server{a, b}[i%2]
			if resp, _ := send(t, srv, "POST", "/login", `{"username":"bob","password":"nope-nope"}`, "Content-Type", "application/json"); resp.StatusCode != 401 {
				t.Fatalf("failure %d: %d", i+1, resp.StatusCode)
			}
		}
		if resp, _ := send(t, a, "POST", "/login", `{"username":"bob","password":"securepass"}`, "Content-Type", "application/json"); resp.StatusCode != 429 {
			t.Errorf("6th try: %d, want 429", resp.StatusCode)
		}
	})

	t.Run("a user and a key created on one instance work on the other; a revoke holds on both", func(t *testing.T) {
		u, err := a.Auth.CreateUser(t.Context(), "erin", "erin-password", "user")
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := send(t, b, "GET", "/basic/profile", "", "Authorization", basic("erin", "erin-password")); body != `{"message":"Welcome erin!"}` {
			t.Fatalf("basic on B: %d %s", resp.StatusCode, body)
		}
		k, err := a.Auth.CreateAPIKey(t.Context(), u.ID, "shared", []string{"read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := send(t, b, "GET", "/apikey/data", "", "X-API-Key", k.Key); resp.StatusCode != 200 {
			t.Fatalf("key on B: %d", resp.StatusCode)
		}
		if _, err := a.Auth.RevokeAPIKey(t.Context(), u.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		for _, srv := range []*Server{a, b} {
			if resp, _ := send(t, srv, "GET", "/apikey/data", "", "X-API-Key", k.Key); resp.StatusCode != 401 {
				t.Errorf("revoked key: %d, want 401", resp.StatusCode)
			}
		}
	})
}

// The API rate limit is one budget across instances.
func TestRateLimitAcrossInstances(t *testing.T) {
	cfg := testConfig(t, map[string]string{"REDIS_URL": testenv.RedisURL(t), "RATE_LIMIT_MAX": "4", "RATE_LIMIT_WINDOW": "1m"})
	cfg.DatabaseURL = filepath.Join(t.TempDir(), "shared.db")
	a, b := newServer(t, cfg), newServer(t, cfg)
	for i := range 4 {
		srv := []*Server{a, b}[i%2]
		if resp, _ := send(t, srv, "GET", "/apikey/data", "", "X-API-Key", "sk_test_123"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	for _, srv := range []*Server{a, b} {
		if resp, _ := send(t, srv, "GET", "/apikey/data", "", "X-API-Key", "sk_test_123"); resp.StatusCode != 429 {
			t.Errorf("over the shared budget: %d, want 429", resp.StatusCode)
		}
	}
}

// When Redis goes away, requests that need it fail with 503 and the envelope, not a
// 500 or a hang, and /readyz says so. The test runs a redis-server of its own so it
// can stop it.
func TestRedisOutage(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed; skipping the outage test")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitForPort(t, port)

	srv := newServer(t, testConfig(t, map[string]string{"REDIS_URL": "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"}))
	resp, _ := send(t, srv, "POST", "/login", `{"username":"alice","password":"password123"}`, "Content-Type", "application/json")
	c := sessionCookie(t, resp)
	if resp, _ := send(t, srv, "GET", "/readyz", ""); resp.StatusCode != 200 {
		t.Fatalf("readyz with Redis up: %d", resp.StatusCode)
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	for _, tc := range []struct{ method, path string }{{"GET", "/readyz"}, {"GET", "/dashboard"}, {"GET", "/apikey/data"}} {
		resp, body := send(t, srv, tc.method, tc.path, "", "Cookie", c, "X-API-Key", "sk_test_123")
		if resp.StatusCode != 503 || !strings.Contains(body, `"type":"service_unavailable_error"`) {
			t.Errorf("%s %s with Redis down: %d %s", tc.method, tc.path, resp.StatusCode, body)
		}
	}
	if resp, _ := send(t, srv, "GET", "/healthz", ""); resp.StatusCode != 200 {
		t.Errorf("healthz with Redis down: %d", resp.StatusCode)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitForPort(t *testing.T, port int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			c.Close()
			return
		}
	}
	t.Fatalf("nothing listens on port %d", port)
}

// In production every cookie we set is Secure, HttpOnly and SameSite=Lax: the session
// cookie (JSON login) and the CSRF cookie (the login page), as service.New wires them.
func TestProductionCookiesAreSecure(t *testing.T) {
	cfg := testConfig(t, map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "BCRYPT_COST": "10", "DEMO_DATA": "false"})
	srv := newServer(t, cfg)
	if _, err := srv.Auth.CreateUser(t.Context(), "paula", "production-password", "user"); err != nil {
		t.Fatal(err)
	}
	login, body := send(t, srv, "POST", "/login", `{"username":"paula","password":"production-password"}`, "Content-Type", "application/json")
	if login.StatusCode != 200 {
		t.Fatalf("login: %d %s", login.StatusCode, body)
	}
	page, _ := send(t, srv, "GET", "/login", "", "Accept", "text/html")
	for name, resp := range map[string]*http.Response{"session_id": login, "csrf_": page} {
		var found bool
		for _, c := range resp.Cookies() {
			if c.Name != name {
				continue
			}
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Errorf("%s cookie: Secure=%v HttpOnly=%v SameSite=%v", name, c.Secure, c.HttpOnly, c.SameSite)
			}
		}
		if !found {
			t.Errorf("no %s cookie set", name)
		}
	}
}
