package auth

import (
	"context"
	"errors"
	"fmt"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// What an admin does to another user. Each action is audited here, once, for the
// browser, the JSON API and the CLI alike: the admin is the actor, and the detail
// names the target first, always as `target=NAME id=N`, then what changed.

// Actor is who performs an admin action.
type Actor struct {
	// UserID is the admin's own user ID, so that they cannot lock themself out;
	// 0 for the CLI, which is no user.
	UserID   int64
	Name     string // the audit log's actor: the admin's username, or "cli"
	ClientIP string // "" for the CLI
}

// CLIActor is the admin CLI.
func CLIActor() Actor { return Actor{Name: "cli"} }

// Admin actions an admin cannot take against themself (422), so that nobody locks
// themself out by a slip; another admin, or the CLI, can.
var (
	ErrDisableSelf = apperr.Validation("You cannot disable your own account: another admin must do it",
		apperr.FieldError{Field: "id", Message: "is your own account"})
	ErrDemoteSelf = apperr.Validation("You cannot demote yourself: another admin must do it",
		apperr.FieldError{Field: "role", Message: "cannot take the admin role from your own account"})
	ErrLogoutSelf = apperr.Validation("You cannot log yourself out everywhere from here: use Log out, or change your password to end your other sessions",
		apperr.FieldError{Field: "id", Message: "is your own account"})
)

// Audit actions of the admin controls.
const (
	ActionUserDisable           = "user.disable"
	ActionUserEnable            = "user.enable"
	ActionUserSetRole           = "user.set_role"
	ActionUserLogout            = "user.logout"
	ActionUserResetSecondFactor = "user.reset_second_factor"
)

// AdminUser is one user with their active key count, for the admin's page.
func (s *Service) AdminUser(ctx context.Context, userID int64) (store.UserSummary, error) {
	return s.store.UserSummary(ctx, userID)
}

// DisableUser disables a user and ends their access everywhere before it returns:
// every session, cached Basic credential and cached key of theirs is void on every
// instance, and whatever they present next meets disabled_at in the database
// (403 Account disabled for a right credential).
func (s *Service) DisableUser(ctx context.Context, actor Actor, userID int64) (store.User, error) {
	if actor.UserID != 0 && actor.UserID == userID {
		s.auditRefusal(ctx, actor, ActionUserDisable, userID, ErrDisableSelf)
		return store.User{}, ErrDisableSelf
	}
	at := s.now().UTC()
	u, err := s.store.SetDisabled(ctx, userID, &at)
	if err != nil {
		s.auditRefusal(ctx, actor, ActionUserDisable, userID, err)
		return store.User{}, err
	}
	// Written before access ends: a login that read the row before the write got the
	// old generation, which ends now; one that reads it after meets disabled_at.
	if err := s.EndAccess(ctx, userID); err != nil {
		return store.User{}, err
	}
	s.auditAdmin(ctx, actor, ActionUserDisable, u, "every session and cached credential ended")
	return u, nil
}

// EnableUser lets a disabled user in again. Nothing of theirs is cached while
// disabled (VerifyAPIKey, VerifyPassword), so it counts at once.
func (s *Service) EnableUser(ctx context.Context, actor Actor, userID int64) (store.User, error) {
	u, err := s.store.SetDisabled(ctx, userID, nil)
	if err != nil {
		return store.User{}, err
	}
	s.auditAdmin(ctx, actor, ActionUserEnable, u, "")
	return u, nil
}

// SetRole gives a user a role. A change ends the user's access everywhere (their
// sessions, and the cached credentials and keys, carry the old role): they log in
// again, and their keys and Basic credentials are checked again, under the new one.
// The last enabled admin cannot be demoted (store.ErrLastAdminDemote).
func (s *Service) SetRole(ctx context.Context, actor Actor, userID int64, role string) (store.User, error) {
	if role != store.RoleUser && role != store.RoleAdmin {
		return store.User{}, apperr.Validation("Validation error", apperr.FieldError{Field: "role", Message: "must be user or admin"})
	}
	if actor.UserID != 0 && actor.UserID == userID && role != store.RoleAdmin {
		s.auditRefusal(ctx, actor, ActionUserSetRole, userID, ErrDemoteSelf)
		return store.User{}, ErrDemoteSelf
	}
	u, previous, err := s.store.SetRole(ctx, userID, role)
	if err != nil {
		s.auditRefusal(ctx, actor, ActionUserSetRole, userID, err)
		return store.User{}, err
	}
	if previous != role {
		if err := s.EndAccess(ctx, userID); err != nil {
			return store.User{}, err
		}
	}
	s.auditAdmin(ctx, actor, ActionUserSetRole, u, fmt.Sprintf("role=%s->%s", previous, role))
	return u, nil
}

// LogoutEverywhere ends every session of a user (and, once they exist, every token
// family), on every instance, before it returns. Their password and keys keep
// working.
func (s *Service) LogoutEverywhere(ctx context.Context, actor Actor, userID int64) (store.User, error) {
	if actor.UserID != 0 && actor.UserID == userID {
		s.auditRefusal(ctx, actor, ActionUserLogout, userID, ErrLogoutSelf)
		return store.User{}, ErrLogoutSelf
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	if err := s.EndAccess(ctx, userID); err != nil {
		return store.User{}, err
	}
	s.auditAdmin(ctx, actor, ActionUserLogout, u, "every session ended")
	return u, nil
}

// ResetSecondFactor removes a user's second factors: the TOTP secret, recovery
// codes, remembered browsers and passkeys.
func (s *Service) ResetSecondFactor(ctx context.Context, actor Actor, userID int64) (store.User, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	hadTOTP, err := s.store.RemoveSecondFactor(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	// Passkeys are reset with the second factors (design.md), here so that the
	// admin page and the CLI both do it.
	passkeys, err := s.store.DeletePasskeys(ctx, userID)
	if err != nil {
		return store.User{}, err
	}
	// A Basic credential cached with the factor would still be refused (403) for up
	// to its TTL: the safe direction; drop this process's copy at once.
	s.creds.ForgetUser(userID)
	detail := "no TOTP enrolled"
	if hadTOTP {
		detail = "TOTP, recovery codes and remembered browsers removed"
	}
	u.SecondFactor = ""
	s.auditAdmin(ctx, actor, ActionUserResetSecondFactor, u, fmt.Sprintf("%s; passkeys removed=%d", detail, passkeys))
	return u, nil
}

// auditTarget is how an admin event names its target.
func auditTarget(u store.User) string { return fmt.Sprintf("target=%s id=%d", u.Username, u.ID) }

func (s *Service) auditAdmin(ctx context.Context, actor Actor, action string, target store.User, detail string) {
	d := auditTarget(target)
	if detail != "" {
		d += " " + detail
	}
	s.Audit(ctx, store.AuditEvent{Actor: actor.Name, Action: action, ClientIP: actor.ClientIP, Outcome: "success", Detail: d})
}

// auditRefusal records an admin action refused by a rule (self-lockout, the last
// admin). Anything else (no such user, an outage) changed nothing worth a record.
func (s *Service) auditRefusal(ctx context.Context, actor Actor, action string, userID int64, err error) {
	var ae *apperr.Error
	if !errors.As(err, &ae) || ae.Kind != apperr.KindValidation {
		return
	}
	d := fmt.Sprintf("target=? id=%d", userID)
	if u, uerr := s.store.UserByID(ctx, userID); uerr == nil {
		d = auditTarget(u)
	}
	s.Audit(ctx, store.AuditEvent{Actor: actor.Name, Action: action, ClientIP: actor.ClientIP, Outcome: "failure",
		Detail: d + " refused: " + ae.Message})
}
