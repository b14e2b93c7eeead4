package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/recovery"
	"fiberauth/internal/store"
	"fiberauth/internal/web/htmx"
)

// Limits on asking for reset links. Per client, over the limit is a 429. Per
// account (the login as typed, hashed), over the limit the answer stays the same
// 202 but no further mail is queued: a 429 there would tell nothing about the
// account either, but the silent cap also keeps anyone from flooding a victim's
// inbox.
const (
	forgotPerClient  = 10
	forgotPerAccount = 3
	forgotWindow     = 15 * time.Minute
	mailboxLimit     = 50
)

// errEmailOff answers the email routes in production when SMTP_URL is not set:
// the mail could not go anywhere.
var errEmailOff = apperr.New(apperr.KindUnavailable, "Email is not configured on this server")

// The forms of the email and reset pages.
var (
	forgotForm = &form{id: "forgot-form", view: view{page: pageForgot, fragment: fragForgotForm},
		title: "Forgot your password?", nav: "login", fields: []string{"login"}}
	resetForm = &form{id: "reset-form", view: view{page: pageReset, fragment: fragResetForm},
		title: "Choose a new password", nav: "login", fields: []string{"token"}}
)

// emailForm is the account page's address form; a whole-page answer needs the
// account page's data.
func (s *server) emailForm() *form {
	return &form{id: "email-form", view: view{page: pageAccount, fragment: fragEmailForm},
		title: "Account", nav: "account", fields: []string{"email"}, pageInFragment: true,
		page: func(c *fiber.Ctx) (any, error) { return s.accountPage(c, nil) }}
}

// emailEnabled refuses the routes that mail someone when mail cannot be sent.
func (s *server) emailEnabled(c *fiber.Ctx) error {
	if s.cfg.Production() && s.cfg.SMTPURL == "" {
		return errEmailOff
	}
	return c.Next()
}

// accountPage is what the account page shows besides the forms.
// accountEmail is the user's address and whether it is verified.
type accountEmail struct {
	Address  string
	Verified *time.Time
	Pending  bool // a verification mail was just queued (htmx answers)
}

func (s *server) emailCard(c *fiber.Ctx) (accountEmail, error) {
	p, _ := principal(c)
	u, err := s.recovery.Account(c.UserContext(), p.UserID)
	if err != nil {
		return accountEmail{}, err
	}
	return accountEmail{Address: u.Email, Verified: u.EmailVerifiedAt}, nil
}

type emailChange struct {
	Email string `json:"email"`
}

// POST /account/email {"email"} -> 202 and a verification mail to the new address.
func (s *server) handleEmailChange(c *fiber.Ctx) error {
	p, _ := principal(c)
	var req emailChange
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req.Email = c.FormValue("email")
	default:
		return unsupportedMediaType("application/json or a form")
	}
	if err := requiredFields(map[string]string{"email": req.Email}, "email"); err != nil {
		return err
	}
	if err := s.recovery.ChangeEmail(c.UserContext(), p, req.Email, s.clientIP(c)); err != nil {
		return err
	}
	if browser(c) {
		if !htmx.IsRequest(c) {
			setFlash(c, "email-sent", s.cfg.Production())
			return redirect(c, "/account")
		}
		page, err := s.accountPage(c, nil)
		if err != nil {
			return err
		}
		page.Email.Pending = page.Email.Verified == nil
		data := s.viewData(c, "Account", "account")
		data.Page = page
		return s.render(c, fiber.StatusAccepted, view{page: pageAccount, fragment: fragEmailForm}, data)
	}
	return c.Status(fiber.StatusAccepted).JSON(messageResponse{Message: "A verification link is on its way to the new address."})
}

// GET /account/email/verify?token=: the link in the verification mail.
func (s *server) handleEmailVerify(c *fiber.Ctx) error {
	u, err := s.recovery.VerifyEmail(c.UserContext(), c.Query("token"), s.clientIP(c))
	if browser(c) {
		data := s.viewData(c, "Confirm your address", "")
		page := verifyPage{Email: u.Email}
		status := fiber.StatusOK
		if err != nil {
			var ae *apperr.Error
			if !errors.As(err, &ae) || ae.Kind != apperr.KindValidation {
				return err
			}
			page.Invalid, status = true, fiber.StatusUnprocessableEntity
		}
		data.Page = page
		return s.render(c, status, view{page: pageVerify}, data)
	}
	if err != nil {
		return err
	}
	return c.JSON(messageResponse{Message: "Email address verified"})
}

type verifyPage struct {
	Email   string
	Invalid bool
}

// GET /password/forgot
func (s *server) handleForgotPage(c *fiber.Ctx) error {
	data := s.viewData(c, forgotForm.title, forgotForm.nav)
	data.Page = forgotPage{Mailbox: !s.cfg.Production()}
	return s.render(c, fiber.StatusOK, forgotForm.view, data)
}

type forgotRequest struct {
	Login string `json:"login"`
}

// forgotAnswer is the one answer to POST /password/forgot, whoever is asked for.
const forgotAnswer = "If an account matches, a reset link is on its way."

// POST /password/forgot {"login"} -> 202 forgotAnswer, always: the same status,
// body and headers, and the same work, for an account that exists and one that does
// not (recovery.RequestReset). The mail is queued, never sent here.
func (s *server) handleForgot(c *fiber.Ctx) error {
	var req forgotRequest
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req.Login = c.FormValue("login")
	default:
		return unsupportedMediaType("application/json or a form")
	}
	login := strings.TrimSpace(req.Login)
	if err := requiredFields(map[string]string{"login": login}, "login"); err != nil {
		return err
	}
	if len(login) > recovery.MaxEmailBytes {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "login", Message: "must be at most 254 bytes"})
	}
	allowed, err := s.accountResetAllowed(login)
	if err != nil {
		return err
	}
	if allowed {
		if err := s.recovery.RequestReset(c.UserContext(), login, s.clientIP(c)); err != nil {
			return err
		}
	}
	if browser(c) {
		data := s.viewData(c, forgotForm.title, forgotForm.nav)
		data.Form.Message = forgotAnswer
		data.Page = forgotPage{Sent: true, Mailbox: !s.cfg.Production()}
		return s.render(c, fiber.StatusAccepted, forgotForm.view, data)
	}
	return c.Status(fiber.StatusAccepted).JSON(messageResponse{Message: forgotAnswer})
}

type forgotPage struct {
	Sent    bool // the request is taken: say so, the same for everyone
	Mailbox bool // /dev/mailbox exists: point to it
}

// accountResetAllowed counts a reset request against the login it names (hashed,
// so a long one leaves a small key) and reports whether it is within the limit.
func (s *server) accountResetAllowed(login string) (bool, error) {
	sum := sha256.Sum256([]byte(strings.ToLower(login)))
	n, _, err := s.shared.Count("reset-account:"+hex.EncodeToString(sum[:16]), forgotWindow)
	if err != nil {
		return false, apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
	}
	return n <= forgotPerAccount, nil
}

// forgotLimit limits reset requests per client.
func (s *server) forgotLimit(c *fiber.Ctx) error {
	n, left, err := s.shared.Count("reset-client:"+s.limitedClient(c), forgotWindow)
	if err != nil {
		return apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
	}
	if n > forgotPerClient {
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((left+time.Second-1)/time.Second), 10))
		return apperr.New(apperr.KindRateLimited, "Too many reset requests; try again later")
	}
	return c.Next()
}

// resetThrottle counts a reset with a link that does not work as a failed login
// of the client: tokens cannot be guessed, but nobody gets to try many.
func (s *server) resetThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string { return "reset|" + s.limitedClient(c) }
	return s.failureThrottle(nil, subject, nil, func(err error) bool { return errors.Is(err, recovery.ErrInvalidToken) })
}

// emailThrottle counts an address found taken as a failed login of the client:
// each one tells that some account has it.
func (s *server) emailThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string { return "email|" + s.limitedClient(c) }
	return s.failureThrottle(nil, subject, nil, func(err error) bool { return apperr.Is(err, apperr.KindConflict) })
}

type resetRequest struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

type resetPage struct {
	Invalid bool // the link does not work: ask for another
}

// GET /password/reset?token=: the form for the new password, if the link works.
func (s *server) handleResetPage(c *fiber.Ctx) error {
	token := c.Query("token")
	data := s.viewData(c, resetForm.title, resetForm.nav)
	data.Form.Values = map[string]string{"token": token}
	if err := s.recovery.CheckResetToken(c.UserContext(), token); err != nil {
		if !apperr.Is(err, apperr.KindValidation) {
			return err
		}
		data.Page = resetPage{Invalid: true}
	}
	return s.render(c, fiber.StatusOK, view{page: pageReset}, data)
}

// POST /password/reset {"token","new_password"} -> 200; every session and token of
// the user has ended. A browser is sent to log in with the new password.
func (s *server) handleReset(c *fiber.Ctx) error {
	var req resetRequest
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req = resetRequest{Token: c.FormValue("token"), NewPassword: c.FormValue("new_password")}
	default:
		return unsupportedMediaType("application/json or a form")
	}
	if err := requiredFields(map[string]string{"token": req.Token, "new_password": req.NewPassword},
		"token", "new_password"); err != nil {
		return err
	}
	if isForm(c) && c.FormValue("confirm_password") != req.NewPassword {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "confirm_password", Message: "does not match the new password"})
	}
	u, err := s.recovery.ResetPassword(c.UserContext(), req.Token, req.NewPassword, s.clientIP(c))
	if err != nil {
		return err
	}
	// Sessions of the user ended with the generation; free what indexes them.
	if _, err := s.sessions.EndOthers(u.ID, ""); err != nil {
		s.log.WarnContext(c.UserContext(), "freeing ended sessions failed", "user_id", u.ID, "err", err)
	}
	if browser(c) {
		setFlash(c, "password-reset", s.cfg.Production())
		return redirect(c, "/login")
	}
	return c.JSON(messageResponse{Message: "Password reset. Every session has been signed out; log in with the new password."})
}

// mailboxMessage is one mail as GET /dev/mailbox shows it.
type mailboxMessage struct {
	To      string     `json:"to"`
	Subject string     `json:"subject"`
	Text    string     `json:"text"`
	SentAt  *time.Time `json:"sent_at"`
	// For the page: the text in pieces, our own links clickable.
	Parts []textPart `json:"-"`
}

type textPart struct {
	Text string
	Link bool
}

var mailLink = regexp.MustCompile(`https?://[^\s<>"]+`)

// linkParts splits text so that the links to this site can be shown as links;
// anything else stays text.
func (s *server) linkParts(text string) []textPart {
	var parts []textPart
	last := 0
	for _, m := range mailLink.FindAllStringIndex(text, -1) {
		link := text[m[0]:m[1]]
		if !strings.HasPrefix(link, s.cfg.PublicURL+"/") {
			continue
		}
		parts = append(parts, textPart{Text: text[last:m[0]]}, textPart{Text: link, Link: true})
		last = m[1]
	}
	return append(parts, textPart{Text: text[last:]})
}

// GET /dev/mailbox: the outbox, newest first (development only: the route does not
// exist in production).
func (s *server) handleDevMailbox(c *fiber.Ctx) error {
	mail, err := s.recovery.Mailbox(c.UserContext(), mailboxLimit)
	if err != nil {
		return err
	}
	out := make([]mailboxMessage, 0, len(mail))
	for _, m := range mail {
		out = append(out, mailboxMessage{To: m.To, Subject: m.Subject, Text: m.Text, SentAt: m.SentAt})
	}
	if browser(c) {
		for i := range out {
			out[i].Parts = s.linkParts(out[i].Text)
		}
		data := s.viewData(c, "Development mailbox", "")
		data.Page = out
		return s.render(c, fiber.StatusOK, view{page: pageMailbox}, data)
	}
	return c.JSON(fiber.Map{"messages": out})
}

// emailOf is a user's address for JSON: null for none.
func emailOf(u store.User) *string {
	if u.Email == "" {
		return nil
	}
	return &u.Email
}

// registerEmail is the optional address of a sign-up: "email" in the JSON body
// or the form.
func registerEmail(c *fiber.Ctx) (string, error) {
	if !isJSON(c) {
		return strings.TrimSpace(c.FormValue("email")), nil
	}
	var body struct {
		Email *string `json:"email"`
	}
	if err := decodeJSONObject(c, &body); err != nil {
		return "", err
	}
	if body.Email == nil {
		return "", nil
	}
	return strings.TrimSpace(*body.Email), nil
}
