package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/passkey"
	"fiberauth/internal/sessions"
	"fiberauth/internal/store"
	"fiberauth/internal/web/htmx"
)

// How a session logged in with a passkey, as the sessions page shows it; such a
// session's principal says auth.MethodPasskey (setSession).
const loginPasskey = "passkey"

// passkeyLoginCookie carries a login's challenge, sealed (passkey.BeginLogin), from
// the options to the answer: only to that route, never to another site.
const (
	passkeyLoginCookie = "passkey_login"
	passkeyLoginPath   = "/login/passkey"
)

var errPasskeyNotFound = apperr.New(apperr.KindNotFound, "Passkey not found")

// passkeysPage is the account page's passkeys card.
type passkeysPage struct {
	Passkeys []passkey.Passkey
	Max      int
}

func (s *server) passkeysPage(c *fiber.Ctx) (passkeysPage, error) {
	p, _ := principal(c)
	list, err := s.passkeys.List(c.UserContext(), p.UserID)
	if err != nil {
		return passkeysPage{}, err
	}
	return passkeysPage{Passkeys: list, Max: store.MaxPasskeysPerUser}, nil
}

// POST /account/passkeys/options: creation options for navigator.credentials.create,
// answerable by this session only, for five minutes.
func (s *server) handlePasskeyRegisterOptions(c *fiber.Ctx) error {
	p, _ := principal(c)
	info, _ := c.Locals(localSession).(sessions.Info)
	options, err := s.passkeys.BeginRegistration(c.UserContext(), p.UserID, info.ID)
	if err != nil {
		return err
	}
	return c.JSON(options)
}

// passkeyRegistration is the body of POST /account/passkeys.
type passkeyRegistration struct {
	Name       string          `json:"name"`
	Credential json.RawMessage `json:"credential"`
}

// credentialField refuses a request without a credential object.
func credentialField(raw json.RawMessage) error {
	if len(raw) == 0 || raw[0] != '{' {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "credential",
			Message: "is required: the PublicKeyCredential from the browser, as JSON"})
	}
	return nil
}

// POST /account/passkeys {"name","credential"} -> 201 {"id","name","created_at"}.
func (s *server) handlePasskeyRegister(c *fiber.Ctx) error {
	if !isJSON(c) {
		return unsupportedMediaType("application/json")
	}
	var req passkeyRegistration
	if err := decodeJSONObject(c, &req); err != nil {
		return err
	}
	if err := credentialField(req.Credential); err != nil {
		return err
	}
	p, _ := principal(c)
	info, _ := c.Locals(localSession).(sessions.Info)
	k, err := s.passkeys.FinishRegistration(c.UserContext(), p.UserID, info.ID, req.Name, req.Credential, s.clientIP(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(struct {
		ID        int64     `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"created_at"`
	}{k.ID, k.Name, k.CreatedAt})
}

// GET /account/passkeys: JSON {"passkeys":[...]}; htmx gets the list fragment, a
// browser the account page's card.
func (s *server) handlePasskeysList(c *fiber.Ctx) error {
	page, err := s.passkeysPage(c)
	if err != nil {
		return err
	}
	if htmx.WantsFragment(c) {
		data := s.viewData(c, "Account", "account")
		data.Page = accountPage{Passkeys: &page}
		return c.Render(fragPasskeyList, data, "")
	}
	if browser(c) {
		return c.Redirect("/account#passkeys", fiber.StatusSeeOther)
	}
	return c.JSON(fiber.Map{"passkeys": page.Passkeys})
}

// DELETE /account/passkeys/:id (JSON, htmx) and POST /account/passkeys/:id/delete
// (a plain form): 204, the list fragment, or back to the account page.
func (s *server) handlePasskeyRemove(c *fiber.Ctx) error {
	id, err := strconv.ParseInt(c.Params("id"), 10, 64)
	if err != nil || id <= 0 {
		return errPasskeyNotFound
	}
	p, _ := principal(c)
	if err := s.passkeys.Remove(c.UserContext(), p, id, s.clientIP(c)); err != nil {
		return err
	}
	switch {
	case htmx.WantsFragment(c):
		page, err := s.passkeysPage(c)
		if err != nil {
			return err
		}
		data := s.viewData(c, "Account", "account")
		data.Page = accountPage{Passkeys: &page}
		data.Flash = flashMessages["passkey-removed"]
		return c.Render(fragPasskeyList, data, "")
	case browser(c):
		setFlash(c, "passkey-removed", s.cfg.Production())
		return redirect(c, "/account#passkeys")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// POST /login/passkey/options: request options for any passkey of this site. The
// challenge goes back sealed in a cookie for this route only: nothing is stored
// for a visitor who has not logged in.
func (s *server) handlePasskeyLoginOptions(c *fiber.Ctx) error {
	options, ticket, err := s.passkeys.BeginLogin()
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: passkeyLoginCookie, Value: base64.RawURLEncoding.EncodeToString(ticket),
		Path: passkeyLoginPath, MaxAge: int(passkey.ChallengeTTL / time.Second), HTTPOnly: true,
		Secure: s.cfg.Production(), SameSite: fiber.CookieSameSiteStrictMode})
	return c.JSON(options)
}

// passkeyLogin is the body of POST /login/passkey.
type passkeyLogin struct {
	Credential json.RawMessage `json:"credential"`
}

// POST /login/passkey {"credential"} -> 200 {"message":"Login successful"} and a new
// session, which needs no second factor: the passkey was one.
func (s *server) handlePasskeyLogin(c *fiber.Ctx) error {
	if !isJSON(c) {
		return unsupportedMediaType("application/json")
	}
	var req passkeyLogin
	if err := decodeJSONObject(c, &req); err != nil {
		return err
	}
	if err := credentialField(req.Credential); err != nil {
		return err
	}
	ticket, err := base64.RawURLEncoding.DecodeString(c.Cookies(passkeyLoginCookie))
	if err != nil || len(ticket) == 0 {
		return passkey.ErrNoChallenge
	}
	// Whatever the outcome, this challenge has had its one try at this route.
	c.Cookie(&fiber.Cookie{Name: passkeyLoginCookie, Path: passkeyLoginPath, Expires: time.Unix(0, 0), MaxAge: -1,
		HTTPOnly: true, Secure: s.cfg.Production(), SameSite: fiber.CookieSameSiteStrictMode})
	p, err := s.passkeys.FinishLogin(c.UserContext(), ticket, req.Credential, s.clientIP(c))
	if err != nil {
		return err
	}
	if _, err := s.sessions.Start(c, p, s.login(c, loginPasskey)); err != nil {
		return err
	}
	return c.JSON(messageResponse{Message: "Login successful"})
}

// passkeyThrottle limits failed passkey logins per client, as failed passwords are
// limited (failureThrottle): there is no username to count them under.
func (s *server) passkeyThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string { return "passkey|" + s.limitedClient(c) }
	return s.failureThrottle(nil, subject, nil, func(err error) bool { return errors.Is(err, passkey.ErrLoginFailed) })
}
