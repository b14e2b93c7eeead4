package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"fiberauth/internal/apperr"
	"fiberauth/internal/testenv"
)

func TestDisableAndRole(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		admin := mustCreateUser(t, s, "root", RoleAdmin)
		alice := mustCreateUser(t, s, "alice", RoleUser)
		key := mustCreateKey(t, s, alice.ID, "d1sab1ed", nil, PermRead)

		t.Run("disabling records the time, and every read of the user carries it", func(t *testing.T) {
			first := now().Add(-time.Minute)
			u, err := s.SetDisabled(ctx, alice.ID, &first)
			wantNoErr(t, err)
			if !sameTime(u.DisabledAt, &first) {
				t.Fatalf("SetDisabled returned DisabledAt %v, want %v", u.DisabledAt, first)
			}
			byName, err := s.UserByUsername(ctx, "alice")
			wantNoErr(t, err)
			byID, err := s.UserByID(ctx, alice.ID)
			wantNoErr(t, err)
			sum, err := s.UserSummary(ctx, alice.ID)
			wantNoErr(t, err)
			k, err := s.APIKeyByDigest(ctx, key.Digest)
			wantNoErr(t, err)
			list, err := s.ListUsers(ctx)
			wantNoErr(t, err)
			var listed *time.Time
			for _, l := range list {
				if l.ID == alice.ID {
					listed = l.DisabledAt
				}
			}
			for name, got := range map[string]*time.Time{"UserByUsername": byName.DisabledAt, "UserByID": byID.DisabledAt,
				"UserSummary": sum.DisabledAt, "APIKeyByDigest": k.UserDisabledAt, "ListUsers": listed} {
				if !sameTime(got, &first) {
					t.Errorf("%s: DisabledAt %v, want %v", name, got, first)
				}
			}
			if sum.ActiveKeys != 1 {
				t.Errorf("UserSummary: %d active keys, want 1", sum.ActiveKeys)
			}
		})

		t.Run("disabling again keeps the first time", func(t *testing.T) {
			before, err := s.UserByID(ctx, alice.ID)
			wantNoErr(t, err)
			later := now()
			u, err := s.SetDisabled(ctx, alice.ID, &later)
			wantNoErr(t, err)
			if !sameTime(u.DisabledAt, before.DisabledAt) {
				t.Errorf("DisabledAt %v after a second disable, want the first %v", u.DisabledAt, before.DisabledAt)
			}
		})

		t.Run("enabling clears it", func(t *testing.T) {
			u, err := s.SetDisabled(ctx, alice.ID, nil)
			wantNoErr(t, err)
			k, err := s.APIKeyByDigest(ctx, key.Digest)
			wantNoErr(t, err)
			if u.DisabledAt != nil || k.UserDisabledAt != nil {
				t.Errorf("after enabling: user %v, key's owner %v", u.DisabledAt, k.UserDisabledAt)
			}
		})

		t.Run("a role change returns the role before it", func(t *testing.T) {
			u, previous, err := s.SetRole(ctx, alice.ID, RoleAdmin)
			wantNoErr(t, err)
			if u.Role != RoleAdmin || previous != RoleUser {
				t.Errorf("SetRole = %s, previous %s; want admin, previous user", u.Role, previous)
			}
			u, previous, err = s.SetRole(ctx, alice.ID, RoleUser)
			wantNoErr(t, err)
			if u.Role != RoleUser || previous != RoleAdmin {
				t.Errorf("SetRole = %s, previous %s; want user, previous admin", u.Role, previous)
			}
		})

		t.Run("the last enabled admin is neither demoted nor disabled", func(t *testing.T) {
			if _, _, err := s.SetRole(ctx, admin.ID, RoleUser); !errors.Is(err, ErrLastAdminDemote) {
				t.Errorf("demoting the only admin: %v, want ErrLastAdminDemote", err)
			}
			at := now()
			if _, err := s.SetDisabled(ctx, admin.ID, &at); !errors.Is(err, ErrLastAdminDisable) {
				t.Errorf("disabling the only admin: %v, want ErrLastAdminDisable", err)
			}
			if u, err := s.UserByID(ctx, admin.ID); err != nil || u.Role != RoleAdmin || u.DisabledAt != nil {
				t.Errorf("after the refusals: %+v %v", u, err)
			}
			// Keeping the role is no demotion.
			if _, _, err := s.SetRole(ctx, admin.ID, RoleAdmin); err != nil {
				t.Errorf("setting the only admin's role to admin: %v", err)
			}
		})

		t.Run("a disabled admin does not count as another admin", func(t *testing.T) {
			other := mustCreateUser(t, s, "other-admin", RoleAdmin)
			at := now()
			_, err := s.SetDisabled(ctx, other.ID, &at)
			wantNoErr(t, err)
			if _, _, err := s.SetRole(ctx, admin.ID, RoleUser); !errors.Is(err, ErrLastAdminDemote) {
				t.Errorf("demoting the only enabled admin beside a disabled one: %v", err)
			}
			// But the disabled one may be demoted: that leaves the enabled admin.
			if _, _, err := s.SetRole(ctx, other.ID, RoleUser); err != nil {
				t.Errorf("demoting a disabled admin: %v", err)
			}
		})

		t.Run("with a second admin the first may go", func(t *testing.T) {
			second := mustCreateUser(t, s, "second-admin", RoleAdmin)
			if _, _, err := s.SetRole(ctx, admin.ID, RoleUser); err != nil {
				t.Fatalf("demoting one of two admins: %v", err)
			}
			if _, _, err := s.SetRole(ctx, second.ID, RoleUser); !errors.Is(err, ErrLastAdminDemote) {
				t.Errorf("demoting the one left: %v", err)
			}
		})

		t.Run("an unknown user is not found", func(t *testing.T) {
			at := now()
			_, err := s.SetDisabled(ctx, 999999, &at)
			wantKind(t, err, apperr.KindNotFound)
			_, _, err = s.SetRole(ctx, 999999, RoleUser)
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.UserSummary(ctx, 999999)
			wantKind(t, err, apperr.KindNotFound)
		})
	})
}

// Two admins demoting (or disabling) each other at the same moment must not leave
// zero admins: exactly one of the two changes goes through, every round.
func TestLastAdminUnderConcurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		survivor := mustCreateUser(t, s, "admin-0", RoleAdmin)
		for round := 1; round <= 30; round++ {
			fresh := mustCreateUser(t, s, fmt.Sprintf("admin-%d", round), RoleAdmin)
			pair := [2]User{survivor, fresh}
			var errs [2]error
			testenv.Concurrently(2, func(i int) {
				if round%2 == 1 || i == 0 {
					_, _, errs[i] = s.SetRole(ctx, pair[i].ID, RoleUser)
				} else {
					at := now()
					_, errs[i] = s.SetDisabled(ctx, pair[i].ID, &at)
				}
			})
			refused := 0
			for i, err := range errs {
				switch {
				case errors.Is(err, ErrLastAdminDemote), errors.Is(err, ErrLastAdminDisable):
					refused++
					survivor = pair[i]
				case err != nil:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			users, err := s.ListUsers(ctx)
			wantNoErr(t, err)
			enabled := 0
			for _, u := range users {
				if u.Role == RoleAdmin && u.DisabledAt == nil {
					enabled++
				}
			}
			if refused != 1 || enabled != 1 {
				t.Fatalf("round %d: %d of 2 changes refused, %d enabled admins left; want 1 and 1 (errors %v)",
					round, refused, enabled, errs)
			}
		}
	})
}
