package web

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/store"
)

// The forms of the browser pages: where each one's errors are shown.
var (
	loginForm = &form{id: "login-form", view: view{page: pageLogin, fragment: fragLoginForm},
		title: "Log in", nav: "login", fields: []string{"username", "next"}}
	registerForm = &form{id: "register-form", view: view{page: pageRegister, fragment: fragRegisterForm},
		title: "Create an account", nav: "register", fields: []string{"username", "email"}}
	passwordForm = &form{id: "password-form", view: view{page: pageAccount, fragment: fragPasswordForm},
		title: "Account", nav: "account"}
)

// keyForm is the dashboard's "create a key" form; a whole-page answer needs the
// dashboard's data, so it is built per server.
func (s *server) keyForm() *form {
	return &form{id: "key-form", view: view{page: pageDashboard, fragment: fragKeyForm},
		title: "Dashboard", nav: "dashboard", fields: []string{"name", "expires_in"},
		page: func(c *fiber.Ctx) (any, error) { return s.dashboard(c) }}
}

// GET /
func (s *server) handleHome(c *fiber.Ctx) error {
	data := s.viewData(c, "Three ways to prove who you are", "home")
	// For the curl examples: the Host the browser used (not X-Forwarded-Host, which any
	// client can send).
	data.Page = c.Protocol() + "://" + string(c.Request().Host())
	return s.render(c, fiber.StatusOK, view{page: pageHome}, data)
}

// GET /login
func (s *server) handleLoginPage(c *fiber.Ctx) error {
	next := localPath(c.Query("next"), "")
	if sessionAuthenticated(c) {
		return c.Redirect(localPath(next, "/dashboard"), fiber.StatusSeeOther)
	}
	data := s.viewData(c, "Log in", "login")
	data.Form.Values = map[string]string{"next": next}
	return s.render(c, fiber.StatusOK, loginForm.view, data)
}

// registrationOpen answers 404, as for a route that does not exist, when
// ALLOW_REGISTRATION is off.
func (s *server) registrationOpen(c *fiber.Ctx) error {
	if !s.cfg.AllowRegistration {
		return fiber.ErrNotFound
	}
	return c.Next()
}

// GET /register
func (s *server) handleRegisterPage(c *fiber.Ctx) error {
	if sessionAuthenticated(c) {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	return s.render(c, fiber.StatusOK, registerForm.view, s.viewData(c, registerForm.title, registerForm.nav))
}

type registerResponse struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	Role     string `json:"role"`
}

// POST /register: JSON {"username","password"} -> 201; a browser's form also asks
// for the password twice, and is logged in and sent to the dashboard.
func (s *server) handleRegister(c *fiber.Ctx) error {
	cr, err := bindCredentials(c)
	if err != nil {
		return err
	}
	if isForm(c) && c.FormValue("confirm_password") != cr.Password {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "confirm_password", Message: "does not match the password"})
	}
	email, err := registerEmail(c)
	if err != nil {
		return err
	}
	u, err := s.recovery.Register(c.UserContext(), cr.Username, cr.Password, email)
	if errors.Is(err, store.ErrEmailTaken) {
		return err
	}
	if apperr.Is(err, apperr.KindConflict) {
		return &apperr.Error{Kind: apperr.KindConflict, Message: "Username is already taken",
			Fields: []apperr.FieldError{{Field: "username", Message: "is already taken"}}, Err: err}
	}
	if err != nil {
		return err
	}
	s.auth.Audit(c.UserContext(), auditEvent(u.Username, "register", s.clientIP(c), "success", ""))
	if browser(c) {
		p := auth.Principal{UserID: u.ID, Username: u.Username, Role: u.Role, Method: auth.MethodSession,
			Permissions: auth.RolePermissions(u.Role)}
		if _, err := s.sessions.Start(c, p, s.login(c, loginPassword)); err != nil {
			return err
		}
		setFlash(c, "registered", s.cfg.Production())
		return redirect(c, "/dashboard")
	}
	return c.Status(fiber.StatusCreated).JSON(registerResponse{ID: u.ID, Username: u.Username, Role: u.Role})
}

// accountPage is the data of /account: one card per capability.
type accountPage struct {
	Email    accountEmail  // handlers_mail.go
	TOTP     totpCard      // handlers_totp.go
	Passkeys *passkeysPage // handlers_passkeys.go
}

// accountPage loads the account page's data; codes are recovery codes just made.
func (s *server) accountPage(c *fiber.Ctx, codes []string) (accountPage, error) {
	var (
		page accountPage
		err  error
	)
	if page.Email, err = s.emailCard(c); err != nil {
		return accountPage{}, err
	}
	if page.TOTP, err = s.totpCardFor(c, codes); err != nil {
		return accountPage{}, err
	}
	passkeys, err := s.passkeysPage(c)
	if err != nil {
		return accountPage{}, err
	}
	page.Passkeys = &passkeys
	return page, nil
}

// GET /account
func (s *server) handleAccountPage(c *fiber.Ctx) error {
	page, err := s.accountPage(c, nil)
	if err != nil {
		return err
	}
	data := s.viewData(c, passwordForm.title, passwordForm.nav)
	data.Page = page
	return s.render(c, fiber.StatusOK, passwordForm.view, data)
}

// passwordChange is the JSON body of POST /account/password.
type passwordChange struct {
	Current string `json:"current_password"`
	New     string `json:"new_password"`
}

// POST /account/password: needs the current password; ends the user's other
// sessions and gives this one a fresh ID. JSON -> 200, a browser -> the account page.
func (s *server) handlePasswordChange(c *fiber.Ctx) error {
	p, _ := principal(c)
	var req passwordChange
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req = passwordChange{Current: c.FormValue("current_password"), New: c.FormValue("new_password")}
	default:
		return unsupportedMediaType("application/json or a form")
	}
	if err := requiredFields(map[string]string{"current_password": req.Current, "new_password": req.New},
		"current_password", "new_password"); err != nil {
		return err
	}
	if isForm(c) && c.FormValue("confirm_password") != req.New {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "confirm_password", Message: "does not match the new password"})
	}
	gen, err := s.auth.ChangePassword(c.UserContext(), p.UserID, req.Current, req.New)
	if err != nil {
		if apperr.Is(err, apperr.KindValidation) {
			s.auth.Audit(c.UserContext(), auditEvent(p.Username, "password.change", s.clientIP(c), "failure", "rejected"))
		}
		return err
	}
	// Every session of the user, this one included, ended with the change; this
	// browser gets a new one under the new generation.
	p.Generation = gen
	info, err := s.sessions.Start(c, p, s.login(c, loginPassword))
	if err != nil {
		return err
	}
	if _, err := s.sessions.EndOthers(p.UserID, info.ID); err != nil {
		s.log.WarnContext(c.UserContext(), "freeing ended sessions failed", "user_id", p.UserID, "err", err)
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "password.change", s.clientIP(c), "success", "other sessions ended"))
	if browser(c) {
		setFlash(c, "password-changed", s.cfg.Production())
		return redirect(c, "/account")
	}
	return c.JSON(messageResponse{Message: "Password changed"})
}

type userResponse struct {
	ID          int64      `json:"id"`
	Username    string     `json:"username"`
	Role        string     `json:"role"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	ActiveKeys  int        `json:"active_keys"`
	Disabled    bool       `json:"-"` // for the page; GET /admin/users/:id has disabled_at
	TwoFactor   bool       `json:"-"` // for the page; GET /admin/users/:id has second_factor
}

// GET /admin/users: every user, for admins.
func (s *server) handleAdminUsers(c *fiber.Ctx) error {
	users, err := s.auth.ListUsers(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]userResponse, 0, len(users))
	for _, u := range users {
		out = append(out, userResponse{ID: u.ID, Username: u.Username, Role: u.Role, CreatedAt: u.CreatedAt,
			LastLoginAt: u.LastLoginAt, ActiveKeys: u.ActiveKeys, Disabled: u.DisabledAt != nil, TwoFactor: u.SecondFactor != ""})
	}
	if browser(c) {
		data := s.viewData(c, "Users", "admin")
		data.Page = out
		return s.render(c, fiber.StatusOK, view{page: pageAdminUsers}, data)
	}
	return c.JSON(fiber.Map{"users": out})
}

// dashboardPage is what the dashboard shows besides the user and the session.
type dashboardPage struct {
	Sessions int // the user's live sessions
	Keys     []keyResponse
	Audit    []store.AuditEvent
	NewKey   *keyCreatedResponse // only in the answer that created it
}

// dashboardActivity is how many of the user's recent events the dashboard shows.
const dashboardActivity = 10

// dashboard loads the logged-in user's keys and recent audit events.
func (s *server) dashboard(c *fiber.Ctx) (dashboardPage, error) {
	p, _ := principal(c)
	keys, err := s.keys(c, p.UserID)
	if err != nil {
		return dashboardPage{}, err
	}
	events, err := s.auth.RecentAudit(c.UserContext(), p.Username, dashboardActivity)
	if err != nil {
		return dashboardPage{}, err
	}
	live, err := s.sessions.Count(c.UserContext(), p.UserID)
	if err != nil {
		return dashboardPage{}, err
	}
	return dashboardPage{Sessions: live, Keys: keys, Audit: events}, nil
}
