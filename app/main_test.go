package main

import (
	"bytes"
	"context"
	"fiberauth/internal/testenv"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func testEnv(t *testing.T, extra map[string]string) func(string) string {
	t.Helper()
	env := map[string]string{
		"APP_ENV":      "test",
		"ADDR":         "127.0.0.1:0",
		"BCRYPT_COST":  "4",
		"DATABASE_URL": filepath.Join(t.TempDir(), "app.db"),
		"LOG_LEVEL":    "info", // startServer reads the "listening" line
		// The CLI and the server share the database, so they share SECRETS_KEY (the
		// token signing keys are sealed under it), as production requires.
		"SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

var listeningURL = regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)

// startServer runs the service until the test ends and returns its base URL once
// /healthz answers.
func startServer(t *testing.T, getenv func(string) string) string {
	t.Helper()
	var out testenv.Buffer
	return startServerTo(t, getenv, &out)
}

// startServerTo is startServer writing the log to out.
func startServerTo(t *testing.T, getenv func(string) string, out *testenv.Buffer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, strings.NewReader(""), out) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("run did not return after its context was cancelled")
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m := listeningURL.FindStringSubmatch(out.String()); m != nil {
			if resp, err := http.Get(m[1] + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return m[1]
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("run stopped early: %v\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server never became healthy:\n%s", out.String())
	return ""
}

// command runs one admin command and returns its output.
func command(t *testing.T, getenv func(string) string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(t.Context(), args, getenv, strings.NewReader(stdin), &out)
	return out.String(), err
}

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesAndStopsGracefully(t *testing.T) {
	base := startServer(t, testEnv(t, map[string]string{"DEMO_DATA": "true"}))
	if code, body := get(t, base+"/basic/profile", "Authorization", "Basic am9objpzZWNyZXQxMjM="); code != 200 || body != `{"message":"Welcome john!"}` {
		t.Errorf("GET /basic/profile: %d %s", code, body)
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("GET /readyz: %d", code)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name, wantVar string
		env           map[string]string
	}{
		{"a bad duration", "SESSION_IDLE_TIMEOUT", map[string]string{"SESSION_IDLE_TIMEOUT": "soon"}},
		{"demo data in production", "DEMO_DATA", map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "DEMO_DATA": "true", "BCRYPT_COST": "12"}},
		{"a weak cost in production", "BCRYPT_COST", map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "BCRYPT_COST": "4"}},
		{"an unreachable Redis", "REDIS_URL", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(t.Context(), nil, testEnv(t, tt.env), strings.NewReader(""), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("err = %v, want one naming %s", err, tt.wantVar)
			}
		})
	}
}

// The admin CLI creates a user and a key that work over HTTP; a revoked key is refused.
// Each command and each server is its own run over the same database file, so this
// also shows that users and keys survive a restart.
func TestCLIUsersAndKeys(t *testing.T) {
	getenv := testEnv(t, map[string]string{"DEMO_DATA": "false"})

	out, err := command(t, getenv, "carol-password\n", "users", "create", "--username", "carol", "--role", "admin")
	if err != nil || !strings.Contains(out, "created user carol") {
		t.Fatalf("users create: %v\n%s", err, out)
	}
	if out, err := command(t, getenv, "short\n", "users", "create", "--username", "dave"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("a short password was accepted: %v\n%s", err, out)
	}
	if _, err := command(t, getenv, "carol-password\n", "users", "create", "--username", "CAROL"); err == nil {
		t.Error("a duplicate username was accepted")
	}
	out, err = command(t, getenv, "", "keys", "create", "--user", "carol", "--permissions", "read,write", "--expires", "720h", "--name", "ci")
	if err != nil {
		t.Fatalf("keys create: %v\n%s", err, out)
	}
	key := regexp.MustCompile(`sk_live_[A-Za-z0-9]+`).FindString(out)
	id := regexp.MustCompile(`created key (\d+)`).FindStringSubmatch(out)
	if key == "" || id == nil {
		t.Fatalf("no key in output:\n%s", out)
	}
	if out, _ := command(t, getenv, "", "keys", "list"); strings.Contains(out, key) || !strings.Contains(out, key[:12]) {
		t.Errorf("keys list shows the secret or not the prefix:\n%s", out)
	}
	if out, _ := command(t, getenv, "", "users", "list"); !strings.Contains(out, "carol") {
		t.Errorf("users list:\n%s", out)
	}

	t.Run("the key works over HTTP", func(t *testing.T) {
		base := startServer(t, getenv)
		if code, body := get(t, base+"/whoami", "Authorization", "Bearer "+key); code != 200 || !strings.Contains(body, `"username":"carol"`) {
			t.Errorf("GET /whoami: %d %s", code, body)
		}
	})

	if out, err := command(t, getenv, "", "keys", "revoke", id[1]); err != nil || !strings.Contains(out, "revoked key") {
		t.Fatalf("keys revoke: %v\n%s", err, out)
	}
	t.Run("the revoked key is refused", func(t *testing.T) {
		base := startServer(t, getenv)
		if code, _ := get(t, base+"/apikey/data", "X-API-Key", key); code != 401 {
			t.Errorf("GET /apikey/data with a revoked key: %d", code)
		}
	})

	for _, args := range [][]string{{"keys", "revoke", "999"}, {"keys", "revoke", "x"}, {"users"}, {"nope", "x"}, {"keys", "create", "--user", "nobody"}} {
		if _, err := command(t, getenv, "", args...); err == nil {
			t.Errorf("%v succeeded", args)
		}
	}
	if out, _ := command(t, getenv, "", "users", "list"); !strings.Contains(out, "carol") {
		t.Error("users list after restarts lost carol")
	}
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SIGINT/SIGTERM (a cancelled context) lets a request already being served finish
// before run returns. The login is slow on purpose (bcrypt at cost 13, about half a
// second, much more under -race), so it is still in flight when the shutdown starts.
func TestShutdownFinishesInFlightRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds of bcrypt")
	}
	getenv := testEnv(t, map[string]string{"BCRYPT_COST": "13", "DEMO_DATA": "false", "SHUTDOWN_TIMEOUT": "30s"})
	if _, err := command(t, getenv, "slow-password\n", "users", "create", "--username", "sam"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, strings.NewReader(""), &out) }()
	var base string
	// Start-up makes a dummy hash at the slow cost too: give it time under -race.
	for deadline := time.Now().Add(60 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listeningURL.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("never listening:\n%s", out.String())
	}

	type result struct {
		code int
		err  error
	}
	login := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/login", "application/json", strings.NewReader(`{"username":"sam","password":"slow-password"}`))
		if err != nil {
			login <- result{err: err}
			return
		}
		resp.Body.Close()
		login <- result{code: resp.StatusCode}
	}()
	time.Sleep(150 * time.Millisecond) // the login is now inside bcrypt
	cancel()

	if r := <-login; r.err != nil || r.code != 200 {
		t.Errorf("in-flight login: %d %v", r.code, r.err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// --help at every level of the command line prints the usage and succeeds, without
// opening anything (here not even a valid configuration).
func TestHelpAtEveryLevel(t *testing.T) {
	broken := func(k string) string { return map[string]string{"APP_ENV": "nonsense"}[k] }
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "fiberauth keys revoke ID"},
		{[]string{"-h"}, "fiberauth users list"},
		{[]string{"help"}, "fiberauth users create"},
		{[]string{"users", "--help"}, "fiberauth users disable"},
		{[]string{"users", "create", "--help"}, "fiberauth users create"},
		{[]string{"users", "set-role", "alice", "-help"}, "fiberauth users set-role"},
		{[]string{"keys", "--help"}, "fiberauth keys create"},
		{[]string{"keys", "revoke", "-h"}, "fiberauth keys revoke"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			if err := run(t.Context(), tt.args, broken, strings.NewReader(""), &out); err != nil {
				t.Fatalf("run %v: %v", tt.args, err)
			}
			if !strings.Contains(out.String(), tt.want) || !strings.HasPrefix(out.String(), "usage:") {
				t.Errorf("run %v printed %q, want usage with %q", tt.args, out.String(), tt.want)
			}
			if tt.args[0] == "keys" && strings.Contains(out.String(), "fiberauth users") {
				t.Errorf("keys help lists the users commands: %q", out.String())
			}
		})
	}
}
