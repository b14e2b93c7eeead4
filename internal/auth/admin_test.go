package auth

import (
	"errors"
	"strings"
	"testing"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// A Basic credential and an API key verified (and so cached) just before the
// disable are refused right after it, with 403 for the right credential; a wrong
// password stays the ordinary failure. Enabling lets both in again at once.
func TestDisabledUserIsRefusedThroughTheCaches(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	ctx := t.Context()
	alice, err := svc.UserPrincipalByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.VerifyPassword(ctx, "alice", "password123"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VerifyAPIKey(ctx, "sk_live_456"); err != nil {
			t.Fatal(err)
		}
	}
	if !svc.RecentlyVerified("alice", "password123") {
		t.Fatal("the Basic credential is not cached: the test would prove nothing")
	}

	if _, err := svc.DisableUser(ctx, CLIActor(), alice.UserID); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		err  func() error
		want error
	}{
		{"the cached password is refused as disabled", func() error { _, err := svc.VerifyPassword(ctx, "alice", "password123"); return err }, ErrAccountDisabled},
		{"a wrong password is still invalid", func() error { _, err := svc.VerifyPassword(ctx, "alice", "wrong-password"); return err }, ErrInvalidCredentials},
		{"the cached key is refused as disabled", func() error { _, err := svc.VerifyAPIKey(ctx, "sk_live_456"); return err }, ErrAccountDisabled},
		{"the key again: a disabled owner's key is not cached as valid", func() error { _, err := svc.VerifyAPIKey(ctx, "sk_live_456"); return err }, ErrAccountDisabled},
		{"an unknown key is still invalid", func() error { _, err := svc.VerifyAPIKey(ctx, "sk_live_nope"); return err }, ErrInvalidAPIKey},
		{"a login is refused as disabled", func() error { _, err := svc.Login(ctx, "alice", "password123", "192.0.2.1"); return err }, ErrAccountDisabled},
		{"a login with a wrong password is invalid", func() error { _, err := svc.Login(ctx, "alice", "wrong-password", "192.0.2.1"); return err }, ErrInvalidCredentials},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.err(); !errors.Is(err, c.want) {
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
	if svc.RecentlyVerified("alice", "password123") {
		t.Error("a disabled user's password is cached")
	}

	t.Run("enabling lets the password and the key in at once", func(t *testing.T) {
		if _, err := svc.EnableUser(ctx, CLIActor(), alice.UserID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.VerifyPassword(ctx, "alice", "password123"); err != nil {
			t.Errorf("password after enabling: %v", err)
		}
		if _, err := svc.VerifyAPIKey(ctx, "sk_live_456"); err != nil {
			t.Errorf("key after enabling: %v", err)
		}
	})
}

func TestAdminRules(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	ctx := t.Context()
	admin, err := svc.UserPrincipalByName(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.UserPrincipalByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	self := Actor{UserID: admin.UserID, Name: "admin", ClientIP: "192.0.2.7"}

	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"an admin cannot disable themself", func() error { _, err := svc.DisableUser(ctx, self, admin.UserID); return err }, ErrDisableSelf},
		{"an admin cannot demote themself", func() error { _, err := svc.SetRole(ctx, self, admin.UserID, store.RoleUser); return err }, ErrDemoteSelf},
		{"an admin cannot log themself out everywhere", func() error { _, err := svc.LogoutEverywhere(ctx, self, admin.UserID); return err }, ErrLogoutSelf},
		{"the CLI cannot demote the last admin", func() error { _, err := svc.SetRole(ctx, CLIActor(), admin.UserID, store.RoleUser); return err }, store.ErrLastAdminDemote},
		{"the CLI cannot disable the last admin", func() error { _, err := svc.DisableUser(ctx, CLIActor(), admin.UserID); return err }, store.ErrLastAdminDisable},
		{"an admin may keep their own role", func() error { _, err := svc.SetRole(ctx, self, admin.UserID, store.RoleAdmin); return err }, nil},
		{"an admin may reset their own second factor", func() error { _, err := svc.ResetSecondFactor(ctx, self, admin.UserID); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if u, err := svc.AdminUser(ctx, admin.UserID); err != nil || u.Role != store.RoleAdmin || u.DisabledAt != nil {
		t.Errorf("admin after the refusals: %+v %v", u, err)
	}

	t.Run("a role that is neither user nor admin is a validation error on role", func(t *testing.T) {
		_, err := svc.SetRole(ctx, self, bob.UserID, "root")
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Kind != apperr.KindValidation || len(ae.Fields) != 1 || ae.Fields[0].Field != "role" {
			t.Errorf("err = %#v", err)
		}
	})

	t.Run("each action is audited with the admin as actor and the target in the detail", func(t *testing.T) {
		for _, do := range []func() (store.User, error){
			func() (store.User, error) { return svc.DisableUser(ctx, self, bob.UserID) },
			func() (store.User, error) { return svc.EnableUser(ctx, self, bob.UserID) },
			func() (store.User, error) { return svc.SetRole(ctx, self, bob.UserID, store.RoleAdmin) },
			func() (store.User, error) { return svc.LogoutEverywhere(ctx, self, bob.UserID) },
			func() (store.User, error) { return svc.ResetSecondFactor(ctx, self, bob.UserID) },
		} {
			if _, err := do(); err != nil {
				t.Fatal(err)
			}
		}
		events, err := svc.RecentAudit(ctx, "admin", 50)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{ // action -> the detail of its success
			ActionUserDisable:           "target=bob id=4 every session and cached credential ended",
			ActionUserEnable:            "target=bob id=4",
			ActionUserSetRole:           "target=bob id=4 role=user->admin",
			ActionUserLogout:            "target=bob id=4 every session ended",
			ActionUserResetSecondFactor: "target=bob id=4 no TOTP enrolled; passkeys removed=0",
		}
		refused := map[string]bool{}
		for _, e := range events {
			if e.Outcome == "failure" {
				if !strings.HasPrefix(e.Detail, "target=admin id=2 refused: ") || e.ClientIP != "192.0.2.7" {
					t.Errorf("refusal event %+v", e)
				}
				refused[e.Action] = true
				continue
			}
			if d, ok := want[e.Action]; ok && d == e.Detail && e.ClientIP == "192.0.2.7" {
				delete(want, e.Action)
			}
		}
		for action, detail := range want {
			t.Errorf("no success event %s %q among %+v", action, detail, events)
		}
		for _, action := range []string{ActionUserDisable, ActionUserSetRole, ActionUserLogout} {
			if !refused[action] {
				t.Errorf("the refused self-%s is not audited", action)
			}
		}
		cli, err := svc.RecentAudit(ctx, "cli", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(cli) != 2 || !strings.Contains(cli[0].Detail, "target=admin id=2 refused: The last admin") {
			t.Errorf("the CLI's refusals: %+v", cli)
		}
	})
}

// A role change ends the user's access: their sessions carry the old role, and
// their cached credential is checked again and comes back with the new one.
func TestRoleChangeEndsAccess(t *testing.T) {
	svc, _, _ := newTestService(t, 4)
	ctx := t.Context()
	bob, err := svc.VerifyPassword(ctx, "bob", "securepass")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetRole(ctx, CLIActor(), bob.UserID, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	gen, err := svc.AccessGeneration(ctx, bob.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if gen <= bob.Generation {
		t.Errorf("generation %d after the role change, was %d: bob's sessions live on with the old role", gen, bob.Generation)
	}
	p, err := svc.VerifyPassword(ctx, "bob", "securepass")
	if err != nil || p.Role != store.RoleAdmin {
		t.Errorf("bob's Basic credential after promotion: %+v %v, want role admin", p, err)
	}
	// Setting the role bob already has changes nothing, and ends nothing.
	if _, err := svc.SetRole(ctx, CLIActor(), bob.UserID, store.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if again, _ := svc.AccessGeneration(ctx, bob.UserID); again != gen {
		t.Errorf("generation moved from %d to %d on a role that did not change", gen, again)
	}
}
