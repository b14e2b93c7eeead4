package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
)

// The CLI twins of the admin controls: each does what the admin page does, under
// the same rules, audited with the actor "cli"; a server over the same database
// then refuses the disabled user.
func TestCLIAdminControls(t *testing.T) {
	getenv := testEnv(t, map[string]string{"DEMO_DATA": "true"})
	tests := []struct {
		name    string
		args    []string
		wantOut string // "" when the command must fail
		wantErr string
	}{
		{"disable a user", []string{"users", "disable", "alice"}, "alice (id 3) is disabled", ""},
		{"disable the only admin", []string{"users", "disable", "admin"}, "", "The last admin cannot be disabled"},
		{"disable nobody", []string{"users", "disable", "nobody"}, "", "user not found"},
		{"disable without a name", []string{"users", "disable"}, "", "usage"},
		{"promote with --role", []string{"users", "set-role", "bob", "--role", "admin"}, "bob (id 4) now has the role admin (was user)", ""},
		{"demote with the role as an argument", []string{"users", "set-role", "bob", "user"}, "bob (id 4) now has the role user (was admin)", ""},
		{"set the role a user has", []string{"users", "set-role", "bob", "--role", "user"}, "bob (id 4) already has the role user", ""},
		{"demote the only admin", []string{"users", "set-role", "admin", "--role", "user"}, "", "The last admin cannot be demoted"},
		{"a role that does not exist", []string{"users", "set-role", "bob", "--role", "root"}, "", "role must be user or admin"},
		{"set-role without a role", []string{"users", "set-role", "bob"}, "", "usage"},
		{"log a user out everywhere", []string{"users", "logout", "john"}, "john (id 1) is logged out everywhere", ""},
		{"reset a second factor", []string{"users", "reset-second-factor", "john"}, "john (id 1) has had their second factors reset", ""},
		{"enable a user who is enabled", []string{"users", "enable", "bob"}, "bob (id 4) is enabled again", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := command(t, getenv, "", tt.args...)
			if tt.wantOut == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want one saying %q\n%s", err, tt.wantErr, out)
				}
				return
			}
			if err != nil || !strings.Contains(out, tt.wantOut) {
				t.Errorf("%v\n%s\nwant %q", err, out, tt.wantOut)
			}
		})
	}

	t.Run("a server over the same database refuses the disabled user", func(t *testing.T) {
		base := startServer(t, getenv)
		if code, body := get(t, base+"/basic/profile", "Authorization", "Basic "+b64("alice:password123")); code != 403 || !strings.Contains(body, "Account disabled") {
			t.Errorf("alice: %d %s", code, body)
		}
		if code, _ := get(t, base+"/apikey/data", "X-API-Key", "sk_live_456"); code != 403 {
			t.Errorf("alice's key: %d", code)
		}
		if code, _ := get(t, base+"/basic/admin", "Authorization", "Basic "+b64("admin:supersecret")); code != 200 {
			t.Errorf("the admin the CLI refused to disable or demote: %d", code)
		}
	})

	t.Run("every change and every refusal is audited with the actor cli", func(t *testing.T) {
		st, err := store.Open(t.Context(), getenv("DATABASE_URL"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		events, err := st.ListAudit(t.Context(), "cli", 50)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range events {
			got = append(got, e.Action+" "+e.Outcome+" "+strings.Fields(e.Detail)[0])
		}
		for _, want := range []string{
			"user.disable success target=alice",
			"user.disable failure target=admin",
			"user.set_role success target=bob",
			"user.set_role failure target=admin",
			"user.logout success target=john",
			"user.reset_second_factor success target=john",
			"user.enable success target=bob",
		} {
			if !strings.Contains(strings.Join(got, "\n"), want) {
				t.Errorf("no audit event %q among:\n%s", want, strings.Join(got, "\n"))
			}
		}
	})
}

// With Redis, the CLI's disable reaches a running server at once, through its
// cache of the credential it has just verified.
func TestCLIDisableReachesARunningServer(t *testing.T) {
	getenv := testEnv(t, map[string]string{"DEMO_DATA": "true", "REDIS_URL": testenv.RedisURL(t)})
	base := startServer(t, getenv)
	alice := "Basic " + b64("alice:password123")
	for range 2 { // the second answer comes from the server's cache
		if code, body := get(t, base+"/basic/profile", "Authorization", alice); code != 200 {
			t.Fatalf("before: %d %s", code, body)
		}
	}
	if out, err := command(t, getenv, "", "users", "disable", "alice"); err != nil || strings.Contains(out, "within") {
		t.Fatalf("disable: %v\n%s", err, out)
	}
	if code, body := get(t, base+"/basic/profile", "Authorization", alice); code != 403 {
		t.Errorf("right after the CLI's disable: %d %s", code, body)
	}
	if _, err := command(t, getenv, "", "users", "enable", "alice"); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"/basic/profile", "Authorization", alice); code != 200 {
		t.Errorf("right after the CLI's enable: %d %s", code, body)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
