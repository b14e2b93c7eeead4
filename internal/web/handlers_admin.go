package web

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/web/htmx"
)

// adminUserResponse is one user as GET /admin/users/:id and the admin actions
// answer. Email is null when the user has none; SecondFactor is "totp" or null.
type adminUserResponse struct {
	ID       int64   `json:"id"`
	Username string  `json:"username"`
	Email    *string `json:"email"`
	// EmailVerifiedAt is when the address was confirmed through its link; null: not.
	EmailVerifiedAt *time.Time `json:"email_verified_at"`
	Role            string     `json:"role"`
	CreatedAt       time.Time  `json:"created_at"`
	LastLoginAt     *time.Time `json:"last_login_at"`
	DisabledAt      *time.Time `json:"disabled_at"`
	SecondFactor    *string    `json:"second_factor"`
	ActiveKeys      int        `json:"active_keys"`
	Sessions        int        `json:"sessions"` // live sessions
}

// adminUserPage is what the admin's page of one user shows.
type adminUserPage struct {
	User adminUserResponse
	Self bool // the admin's own account: no disable, demote or log out
	// Message says what the action just done did (htmx answers only; a whole page
	// gets it as the flash).
	Message string
}

var errUserNotFound = apperr.New(apperr.KindNotFound, "User not found")

// targetID reads the :id of an admin route. Anything but a user ID in its one
// spelling ("3", not "+3" or "03") is not found, as for keys.
func targetID(c *fiber.Ctx) (int64, error) {
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		return 0, errUserNotFound
	}
	return id, nil
}

// notFoundAsUser gives "no such user" the route's own message.
func notFoundAsUser(err error) error {
	if apperr.Is(err, apperr.KindNotFound) {
		return errUserNotFound
	}
	return err
}

// adminActor is the logged-in admin, as the audit log records them.
func (s *server) adminActor(c *fiber.Ctx) auth.Actor {
	p, _ := principal(c)
	return auth.Actor{UserID: p.UserID, Name: p.Username, ClientIP: s.clientIP(c)}
}

// adminUser loads a user as the admin sees them, with their live sessions.
func (s *server) adminUser(c *fiber.Ctx, id int64) (adminUserResponse, error) {
	u, err := s.auth.AdminUser(c.UserContext(), id)
	if err != nil {
		return adminUserResponse{}, notFoundAsUser(err)
	}
	n, err := s.sessions.Count(c.UserContext(), id)
	if err != nil {
		return adminUserResponse{}, err
	}
	var factor *string
	if u.SecondFactor != "" {
		factor = &u.SecondFactor
	}
	return adminUserResponse{ID: u.ID, Username: u.Username, Email: emailOf(u.User), EmailVerifiedAt: u.EmailVerifiedAt,
		Role: u.Role, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt, DisabledAt: u.DisabledAt, SecondFactor: factor,
		ActiveKeys: u.ActiveKeys, Sessions: n}, nil
}

// GET /admin/users/:id: one user, and what an admin can do about them.
func (s *server) handleAdminUser(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	return s.answerAdminUser(c, id, "")
}

// answerAdminUser answers an admin route with the user as they are now: JSON, the
// user's card for htmx (with what was done), or, after a plain form's action, a
// redirect to the page with the flash (Post/Redirect/Get).
func (s *server) answerAdminUser(c *fiber.Ctx, id int64, flash string) error {
	if flash != "" && browser(c) && !htmx.WantsFragment(c) {
		setFlash(c, flash, s.cfg.Production())
		return redirect(c, "/admin/users/"+strconv.FormatInt(id, 10))
	}
	u, err := s.adminUser(c, id)
	if err != nil {
		return err
	}
	if !browser(c) {
		return c.JSON(u)
	}
	p, _ := principal(c)
	data := s.viewData(c, u.Username, "admin")
	data.Page = adminUserPage{User: u, Self: u.ID == p.UserID, Message: flashMessages[flash]}
	return s.render(c, fiber.StatusOK, view{page: pageAdminUser, fragment: fragAdminUser}, data)
}

// POST /admin/users/:id/disable
func (s *server) handleAdminDisable(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	if _, err := s.auth.DisableUser(c.UserContext(), s.adminActor(c), id); err != nil {
		return notFoundAsUser(err)
	}
	s.freeSessions(c, id)
	return s.answerAdminUser(c, id, "user-disabled")
}

// POST /admin/users/:id/enable
func (s *server) handleAdminEnable(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	if _, err := s.auth.EnableUser(c.UserContext(), s.adminActor(c), id); err != nil {
		return notFoundAsUser(err)
	}
	return s.answerAdminUser(c, id, "user-enabled")
}

// roleRequest is the body of PUT /admin/users/:id/role.
type roleRequest struct {
	Role string `json:"role"`
}

// PUT /admin/users/:id/role (JSON, htmx) and POST /admin/users/:id/role (a plain
// form, which cannot PUT).
func (s *server) handleAdminRole(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	var req roleRequest
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req.Role = c.FormValue("role")
	default:
		return unsupportedMediaType("application/json or a form")
	}
	if _, err := s.auth.SetRole(c.UserContext(), s.adminActor(c), id, req.Role); err != nil {
		return notFoundAsUser(err)
	}
	return s.answerAdminUser(c, id, "user-role-changed")
}

// POST /admin/users/:id/logout: every session of the user ends, on every instance.
func (s *server) handleAdminLogout(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	if _, err := s.auth.LogoutEverywhere(c.UserContext(), s.adminActor(c), id); err != nil {
		return notFoundAsUser(err)
	}
	s.freeSessions(c, id)
	return s.answerAdminUser(c, id, "user-logged-out")
}

// DELETE /admin/users/:id/second-factor (JSON, htmx) and POST
// /admin/users/:id/second-factor/reset (a plain form): the user's TOTP secret,
// recovery codes and remembered browsers are removed (auth.ResetSecondFactor).
func (s *server) handleAdminResetSecondFactor(c *fiber.Ctx) error {
	id, err := targetID(c)
	if err != nil {
		return err
	}
	if _, err := s.auth.ResetSecondFactor(c.UserContext(), s.adminActor(c), id); err != nil {
		return notFoundAsUser(err)
	}
	if !browser(c) {
		return c.SendStatus(fiber.StatusNoContent)
	}
	return s.answerAdminUser(c, id, "user-second-factor-reset")
}

// freeSessions deletes the sessions of a user whose access has just ended: they are
// void already (EndAccess), this frees their storage at once.
func (s *server) freeSessions(c *fiber.Ctx, userID int64) {
	if _, err := s.sessions.EndOthers(userID, ""); err != nil {
		s.log.WarnContext(c.UserContext(), "freeing ended sessions failed", "user_id", userID, "err", err)
	}
	// The families are void already (the generation moved); this marks them so.
	if _, err := s.tokens.EndAllFamilies(c.UserContext(), userID); err != nil {
		s.log.WarnContext(c.UserContext(), "marking ended token families failed", "user_id", userID, "err", err)
	}
}
