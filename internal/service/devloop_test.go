package service

import (
	"log/slog"
	"os"
	"testing"
)

// In development a restart keeps the logged-in session (the memory state is saved
// to data/sessions.json at Close and read at start); in test and production
// nothing is written, and the session is gone.
func TestDevelopmentRestartKeepsSessions(t *testing.T) {
	tests := []struct {
		env      string
		survives bool
	}{
		{"development", true},
		{"test", false},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			t.Chdir(t.TempDir()) // data/ is relative to the working directory
			cfg := testConfig(t, map[string]string{"APP_ENV": tt.env})
			first, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			resp, body := send(t, first, "POST", "/login", `{"username":"john","password":"secret123"}`, "Content-Type", "application/json")
			if resp.StatusCode != 200 {
				t.Fatalf("login: %d %s", resp.StatusCode, body)
			}
			cookie := sessionCookie(t, resp)
			_ = first.App.Shutdown()
			if err := first.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}

			info, statErr := os.Stat(devSessionsFile)
			switch {
			case tt.survives && statErr != nil:
				t.Fatalf("no %s after a development shutdown: %v", devSessionsFile, statErr)
			case tt.survives && info.Mode().Perm() != 0o600:
				t.Errorf("%s has mode %v, want 0600: it holds session IDs", devSessionsFile, info.Mode().Perm())
			case !tt.survives && statErr == nil:
				t.Fatalf("%s written with APP_ENV=%s", devSessionsFile, tt.env)
			}

			second := newServer(t, cfg)
			resp, body = send(t, second, "GET", "/whoami", "", "Cookie", cookie, "Accept", "application/json")
			if got := resp.StatusCode == 200; got != tt.survives {
				t.Errorf("after the restart GET /whoami = %d %s, want the session kept: %v", resp.StatusCode, body, tt.survives)
			}
		})
	}
}
