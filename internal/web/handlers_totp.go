package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/mfa"
	"fiberauth/internal/store"
	"fiberauth/internal/web/htmx"
)

// The second factor's cookies. Both are scoped to /login: no other route reads
// them, and neither authenticates anything on its own.
const (
	// pendingCookie names a login whose password was right and whose code is
	// awaited (mfa.Pending). It is not a session: no authenticated route reads it.
	pendingCookie = "login_pending"
	// rememberCookie names a browser that may skip the code (mfa.Remember).
	rememberCookie  = "remember_browser"
	loginCookiePath = "/login"
	localPending    = "pending_login"
)

// How a session logged in when a second factor was checked, for the sessions page.
const (
	loginTOTP         = "password+totp"
	loginRecoveryCode = "password+recovery_code"
	loginRemembered   = "password+remembered_browser"
	// methodRemembered marks a remembered browser in the sessions list.
	methodRemembered = "remembered_browser"
)

// Limits on what a code field may hold before it is looked at.
const (
	maxCodeBytes         = 16
	maxRecoveryCodeBytes = 64
)

var verifyForm = &form{id: "verify-form", view: view{page: pageLoginVerify, fragment: fragLoginVerify},
	title: "Two-factor authentication", nav: "login", fields: []string{"method"}}

// totpForm is the two-factor card of /account: its errors re-render the card.
func (s *server) totpForm() *form {
	return &form{id: "totp-card", view: view{page: pageAccount, fragment: fragAccountTOTP},
		title: "Account", nav: "account", fields: []string{"form"},
		page: func(c *fiber.Ctx) (any, error) { return s.accountPage(c, nil) }, pageInFragment: true}
}

// withAccountPage gives a form of /account the page's own data for a whole-page answer.
func (s *server) withAccountPage(f *form) *form {
	copied := *f
	copied.page = func(c *fiber.Ctx) (any, error) { return s.accountPage(c, nil) }
	return &copied
}

type secondFactorResponse struct {
	Message string   `json:"message"`
	Methods []string `json:"methods"`
}

type recoveryCodesResponse struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

// secondFactorStep follows a right password of a user with a second factor: a
// remembered browser is logged in; anyone else gets a pending login (a new cookie
// that authenticates nothing) and 202, or, in a browser, the code page.
func (s *server) secondFactorStep(c *fiber.Ctx, p auth.Principal, next string) error {
	remembered, err := s.mfa.Remembered(c.UserContext(), c.Cookies(rememberCookie), p.UserID, p.Generation)
	if err != nil {
		return err
	}
	if remembered {
		s.auth.CompleteLogin(c.UserContext(), p, s.clientIP(c), "second factor: remembered browser")
		return s.finishLogin(c, p, loginRemembered, next)
	}
	token, err := s.mfa.StartPending(mfa.Pending{UserID: p.UserID, Username: p.Username, Role: p.Role,
		Generation: p.Generation, Next: next})
	if err != nil {
		return err
	}
	s.loginCookie(c, pendingCookie, token, mfa.PendingTTL)
	if browser(c) {
		return redirect(c, "/login/verify")
	}
	return c.Status(fiber.StatusAccepted).JSON(secondFactorResponse{Message: "Second factor required",
		Methods: []string{"totp", "recovery_code"}})
}

// finishLogin starts the session of a login whose every factor passed.
func (s *server) finishLogin(c *fiber.Ctx, p auth.Principal, method, next string) error {
	p.Method = auth.MethodSession
	if _, err := s.sessions.Start(c, p, s.login(c, method)); err != nil {
		return err
	}
	if browser(c) {
		return redirect(c, localPath(next, "/dashboard"))
	}
	return c.JSON(messageResponse{Message: "Login successful"})
}

// loginCookie sets (ttl > 0) or clears one of the /login cookies.
func (s *server) loginCookie(c *fiber.Ctx, name, value string, ttl time.Duration) {
	ck := &fiber.Cookie{Name: name, Value: value, Path: loginCookiePath, MaxAge: int(ttl / time.Second),
		Secure: s.cfg.Production(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode}
	if ttl <= 0 {
		ck.Value, ck.MaxAge, ck.Expires = "", -1, time.Unix(0, 0)
	}
	c.Cookie(ck)
}

// pendingLogin is the request's pending login and the token that names it.
type pendingLogin struct {
	token string
	mfa.Pending
}

// requirePending finds the pending login of the request's cookie, or refuses.
func (s *server) requirePending(c *fiber.Ctx) error {
	token := c.Cookies(pendingCookie)
	p, err := s.mfa.Pending(token)
	if err != nil {
		return err
	}
	c.Locals(localPending, pendingLogin{token: token, Pending: p})
	return c.Next()
}

// codeThrottle limits wrong codes per user, as loginThrottle limits wrong
// passwords: a pending login ends after five, and this stops a guesser who starts
// one pending login after another.
func (s *server) codeThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string {
		p, _ := c.Locals(localPending).(pendingLogin)
		return "code|" + strconv.FormatInt(p.UserID, 10)
	}
	return s.failureThrottle(nil, subject, nil, wrongCode)
}

// passwordAndCodeThrottle limits turning the factor off as loginThrottle limits a
// password change: a wrong password and a wrong code both count as failures.
func (s *server) passwordAndCodeThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string { return strings.ToLower(sessionUsername(c)) + "|" + s.limitedClient(c) }
	return s.failureThrottle(nil, subject, nil, func(err error) bool { return wrongPassword(err) || wrongCode(err) })
}

// wrongCode reports whether a code step's error says a code was checked and wrong.
func wrongCode(err error) bool {
	return errors.Is(err, mfa.ErrWrongCode) || errors.Is(err, mfa.ErrTooManyCodes) || errors.Is(err, mfa.ErrInvalidCode)
}

// GET /login/verify: the code page, for a browser whose password was right.
func (s *server) handleLoginVerifyPage(c *fiber.Ctx) error {
	if _, err := s.mfa.Pending(c.Cookies(pendingCookie)); err != nil {
		if apperr.Is(err, apperr.KindUnauthenticated) {
			setFlash(c, "login-code-expired", s.cfg.Production())
			return c.Redirect("/login", fiber.StatusSeeOther)
		}
		return err
	}
	return s.render(c, fiber.StatusOK, verifyForm.view, s.viewData(c, verifyForm.title, verifyForm.nav))
}

// verifyRequest is the body of POST /login/verify: one of code and recovery_code.
type verifyRequest struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
	Remember     bool   `json:"remember"`
}

// POST /login/verify: the second step of a login with a second factor. A right
// code ends the pending login and starts a session (a new ID); a wrong one counts
// against the pending login (five end it) and against the user (codeThrottle).
func (s *server) handleLoginVerify(c *fiber.Ctx) error {
	pending, _ := c.Locals(localPending).(pendingLogin)
	var req verifyRequest
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return err
		}
	case isForm(c):
		req = verifyRequest{Code: c.FormValue("code"), RecoveryCode: c.FormValue("recovery_code"),
			Remember: c.FormValue("remember") != ""}
	default:
		return unsupportedMediaType("application/json or a form")
	}
	req.Code, req.RecoveryCode = strings.TrimSpace(req.Code), strings.TrimSpace(req.RecoveryCode)
	switch {
	case (req.Code == "") == (req.RecoveryCode == ""):
		return apperr.Validation("Validation error", apperr.FieldError{Field: "code",
			Message: "is required: the code of your authenticator app, or else a recovery_code"})
	case len(req.Code) > maxCodeBytes:
		return apperr.Validation("Validation error", apperr.FieldError{Field: "code", Message: "is too long"})
	case len(req.RecoveryCode) > maxRecoveryCodeBytes:
		return apperr.Validation("Validation error", apperr.FieldError{Field: "recovery_code", Message: "is too long"})
	}
	last, err := s.mfa.Attempt(pending.token)
	if err != nil {
		s.loginCookie(c, pendingCookie, "", 0)
		return err
	}
	ctx := c.UserContext()
	method, how := loginTOTP, "totp"
	if req.RecoveryCode != "" {
		method, how = loginRecoveryCode, "recovery code"
		err = s.mfa.UseRecoveryCode(ctx, pending.UserID, req.RecoveryCode)
	} else {
		err = s.mfa.VerifyCode(ctx, pending.UserID, req.Code)
	}
	switch {
	case errors.Is(err, mfa.ErrWrongCode):
		s.auth.Audit(ctx, auditEvent(pending.Username, "login", s.clientIP(c), "failure", "wrong "+how))
		if last {
			s.mfa.EndPending(pending.token)
			s.loginCookie(c, pendingCookie, "", 0)
			return mfa.ErrTooManyCodes
		}
		return err
	case errors.Is(err, mfa.ErrNotEnrolled): // reset meanwhile: the password is to be checked again
		s.mfa.EndPending(pending.token)
		s.loginCookie(c, pendingCookie, "", 0)
		return mfa.ErrNoPendingLogin
	case err != nil:
		return err
	}
	s.mfa.EndPending(pending.token)
	s.loginCookie(c, pendingCookie, "", 0)
	// Whatever ended the user's access since the password was checked (a password
	// change, disabling) ends this login too.
	if gen, err := s.auth.AccessGeneration(ctx, pending.UserID); err != nil {
		return err
	} else if gen != pending.Generation {
		return mfa.ErrNoPendingLogin
	}
	p := auth.Principal{UserID: pending.UserID, Username: pending.Username, Role: pending.Role,
		Permissions: auth.RolePermissions(pending.Role), Generation: pending.Generation, SecondFactor: store.SecondFactorTOTP}
	s.auth.CompleteLogin(ctx, p, s.clientIP(c), "second factor: "+how)
	if req.Remember {
		token, err := s.mfa.Remember(ctx, p.UserID, p.Generation, s.clientIP(c), c.Get(fiber.HeaderUserAgent))
		if err != nil {
			return err
		}
		s.loginCookie(c, rememberCookie, token, mfa.RememberFor)
		s.auth.Audit(ctx, auditEvent(p.Username, "browser.remember", s.clientIP(c), "success", ""))
	}
	return s.finishLogin(c, p, method, pending.Next)
}

// accountPage is what /account shows besides the password form.
// totpCard is the two-factor card of /account.
type totpCard struct {
	mfa.Status
	QR       template.URL // the pending enrolment's QR code, a data: PNG
	Secret   string       // its key, in groups of four
	NewCodes []string     // recovery codes just made: shown this once
	Download template.URL // the same as a data: text file
	Message  string       // what the action just done did (htmx answers)
}

// totpCardFor loads the two-factor card; codes are recovery codes just made.
func (s *server) totpCardFor(c *fiber.Ctx, codes []string) (totpCard, error) {
	p, _ := principal(c)
	st, err := s.mfa.Status(c.UserContext(), p.UserID, p.Username)
	if err != nil {
		return totpCard{}, err
	}
	card := totpCard{Status: st}
	if st.Pending != nil {
		qr, err := st.Pending.QRCode()
		if err != nil {
			return totpCard{}, apperr.Wrap(apperr.KindInternal, "could not draw the QR code", err)
		}
		card.QR = template.URL(qr) //nolint:gosec // a data: PNG we just encoded
		card.Secret = st.Pending.SecretGroups()
	}
	if codes == nil {
		codes = s.takeRecoveryCodes(c)
	}
	if len(codes) > 0 {
		card.NewCodes = codes
		text := "fiberauth recovery codes for " + p.Username + "\nEach works once.\n\n" + strings.Join(codes, "\n") + "\n"
		card.Download = template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text)) //nolint:gosec // our own text, escaped
	}
	return card, nil
}

// totpAnswer answers a change on the two-factor card: htmx gets the card again, a
// plain form the account page (Post/Redirect/Get, with a flash).
func (s *server) totpAnswer(c *fiber.Ctx, flash string) error {
	if htmx.WantsFragment(c) {
		page, err := s.accountPage(c, nil)
		if err != nil {
			return err
		}
		page.TOTP.Message = flashMessages[flash]
		data := s.viewData(c, "Account", "account")
		data.Page = page
		return s.render(c, fiber.StatusOK, view{page: pageAccount, fragment: fragAccountTOTP}, data)
	}
	if flash != "" {
		setFlash(c, flash, s.cfg.Production())
	}
	return redirect(c, "/account#totp-card")
}

// POST /account/totp: a new TOTP secret, not active until confirmed.
func (s *server) handleTOTPStart(c *fiber.Ctx) error {
	p, _ := principal(c)
	e, err := s.mfa.Start(c.UserContext(), p.UserID, p.Username)
	if err != nil {
		return err
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "totp.start", s.clientIP(c), "success", ""))
	if browser(c) {
		return s.totpAnswer(c, "")
	}
	return c.JSON(e)
}

// bindFields reads named string fields from a JSON object or a form.
func bindFields(c *fiber.Ctx, names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	switch {
	case isJSON(c):
		var body map[string]json.RawMessage
		if err := decodeJSONObject(c, &body); err != nil {
			return nil, err
		}
		for _, n := range names {
			var v string
			if raw, ok := body[n]; ok && json.Unmarshal(raw, &v) != nil {
				return nil, apperr.Validation("Validation error", apperr.FieldError{Field: n, Message: "must be a string"})
			}
			out[n] = v
		}
	case isForm(c):
		for _, n := range names {
			out[n] = c.FormValue(n)
		}
	default:
		return nil, unsupportedMediaType("application/json or a form")
	}
	for _, n := range names {
		if len(out[n]) > 1024 {
			return nil, apperr.Validation("Validation error", apperr.FieldError{Field: n, Message: "is too long"})
		}
	}
	return out, requiredFields(out, names...)
}

// POST /account/totp/confirm: a code of the new secret turns it on; the answer
// holds the recovery codes, shown this once. Every other session of the user ends
// (they were granted on the password alone), and so does every cached Basic
// credential (cached without the factor); this browser gets a new session.
func (s *server) handleTOTPConfirm(c *fiber.Ctx) error {
	p, _ := principal(c)
	in, err := bindFields(c, "code")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	codes, err := s.mfa.Confirm(ctx, p.UserID, in["code"])
	if err != nil {
		if errors.Is(err, mfa.ErrInvalidCode) {
			s.auth.Audit(ctx, auditEvent(p.Username, "totp.enable", s.clientIP(c), "failure", "wrong code"))
		}
		return err
	}
	if err := s.auth.EndAccess(ctx, p.UserID); err != nil {
		return err
	}
	gen, err := s.auth.AccessGeneration(ctx, p.UserID)
	if err != nil {
		return err
	}
	p.Generation, p.SecondFactor = gen, store.SecondFactorTOTP
	info, err := s.sessions.Start(c, p, s.login(c, loginTOTP))
	if err != nil {
		return err
	}
	if _, err := s.sessions.EndOthers(p.UserID, info.ID); err != nil {
		s.log.WarnContext(ctx, "freeing ended sessions failed", "user_id", p.UserID, "err", err)
	}
	s.auth.Audit(ctx, auditEvent(p.Username, "totp.enable", s.clientIP(c), "success", "other sessions ended"))
	if browser(c) {
		// The session (and so the page's CSRF token) is new: the whole page reloads.
		return s.showRecoveryCodes(c, codes)
	}
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// POST /account/totp/disable: the password and a current code turn the second
// factor off; its recovery codes and remembered browsers go with it.
func (s *server) handleTOTPDisable(c *fiber.Ctx) error {
	p, _ := principal(c)
	in, err := bindFields(c, "password", "code")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.auth.ConfirmPassword(ctx, p.UserID, in["password"]); err != nil {
		s.auditRefused(c, p, "totp.disable", err)
		return err
	}
	if err := s.mfa.Disable(ctx, p.UserID, in["code"]); err != nil {
		s.auditRefused(c, p, "totp.disable", err)
		return err
	}
	s.auth.Audit(ctx, auditEvent(p.Username, "totp.disable", s.clientIP(c), "success", ""))
	if browser(c) {
		return s.totpAnswer(c, "totp-disabled")
	}
	return c.JSON(messageResponse{Message: "Two-factor authentication is off"})
}

// POST /account/recovery-codes: the password makes a new set of recovery codes;
// the old set stops working.
func (s *server) handleRecoveryCodes(c *fiber.Ctx) error {
	p, _ := principal(c)
	in, err := bindFields(c, "password")
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	if err := s.auth.ConfirmPassword(ctx, p.UserID, in["password"]); err != nil {
		s.auditRefused(c, p, "recovery_codes.regenerate", err)
		return err
	}
	codes, err := s.mfa.RegenerateCodes(ctx, p.UserID)
	if err != nil {
		return err
	}
	s.auth.Audit(ctx, auditEvent(p.Username, "recovery_codes.regenerate", s.clientIP(c), "success", "old codes void"))
	if browser(c) {
		return s.showRecoveryCodes(c, codes)
	}
	return c.JSON(recoveryCodesResponse{RecoveryCodes: codes})
}

// auditRefused records a refused change of the second factor (wrong password or code).
func (s *server) auditRefused(c *fiber.Ctx, p auth.Principal, action string, err error) {
	if apperr.Is(err, apperr.KindValidation) {
		s.auth.Audit(c.UserContext(), auditEvent(p.Username, action, s.clientIP(c), "failure", "rejected"))
	}
}

// recoveryCodesCookie carries the handoff ticket of new recovery codes from the
// form post to the account page it redirects to (as newKeyCookie does for keys).
const (
	recoveryCodesCookie     = "new_recovery_codes"
	recoveryCodesCookiePath = "/account"
)

func recoveryOwner(userID int64) string { return "recovery-codes:" + strconv.FormatInt(userID, 10) }

// showRecoveryCodes shows new recovery codes on the account page: after a
// redirect, through a one-time handoff, or (if the handoff cannot take them)
// in this answer, so that they are never lost.
func (s *server) showRecoveryCodes(c *fiber.Ctx, codes []string) error {
	p, _ := principal(c)
	raw, _ := json.Marshal(codes)
	ticket, err := s.handoff.Put(recoveryOwner(p.UserID), raw)
	if err == nil {
		c.Cookie(&fiber.Cookie{Name: recoveryCodesCookie, Value: ticket, Path: recoveryCodesCookiePath,
			MaxAge: int(newKeyHandoffTTL / time.Second), Secure: s.cfg.Production(), HTTPOnly: true,
			SameSite: fiber.CookieSameSiteLaxMode})
		return redirect(c, "/account") // not "#...": htmx would only scroll a page already there
	}
	s.log.WarnContext(c.UserContext(), "handing the recovery codes to the next page failed; showing them here",
		"request_id", requestID(c), "err", err)
	page, err := s.accountPage(c, codes)
	if err != nil {
		return err
	}
	data := s.viewData(c, "Account", "account")
	data.Page = page
	return s.render(c, fiber.StatusOK, view{page: pageAccount}, data)
}

// takeRecoveryCodes returns the codes a form post just made, the one time asked.
func (s *server) takeRecoveryCodes(c *fiber.Ctx) []string {
	ticket := c.Cookies(recoveryCodesCookie)
	if ticket == "" {
		return nil
	}
	c.Cookie(&fiber.Cookie{Name: recoveryCodesCookie, Path: recoveryCodesCookiePath, Expires: time.Unix(0, 0), MaxAge: -1,
		Secure: s.cfg.Production(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	p, _ := principal(c)
	raw, ok, err := s.handoff.Take(recoveryOwner(p.UserID), ticket)
	if err != nil {
		s.log.WarnContext(c.UserContext(), "taking the recovery codes' handoff failed", "request_id", requestID(c), "err", err)
	}
	var codes []string
	if !ok || json.Unmarshal(raw, &codes) != nil {
		return nil
	}
	return codes
}

// rememberedSessions lists the user's remembered browsers as entries of the
// sessions list (method "remembered_browser"); their id ends them like a session's.
func (s *server) rememberedSessions(c *fiber.Ctx, p auth.Principal) ([]sessionResponse, error) {
	list, err := s.mfa.Browsers(c.UserContext(), p.UserID, p.Generation)
	if err != nil {
		return nil, err
	}
	out := make([]sessionResponse, 0, len(list))
	for _, b := range list {
		out = append(out, sessionResponse{ID: b.Handle, Method: methodRemembered, CreatedAt: b.CreatedAt,
			LastSeenAt: b.LastUsedAt, ExpiresAt: b.ExpiresAt, IP: b.ClientIP, UserAgent: b.UserAgent,
			Device: deviceLabel(b.UserAgent)})
	}
	return out, nil
}

// forgetRemembered ends a remembered browser by its handle; found is false when
// the user has none of that handle.
func (s *server) forgetRemembered(c *fiber.Ctx, p auth.Principal, handle string) (bool, error) {
	found, err := s.mfa.Forget(c.UserContext(), p.UserID, handle)
	if err != nil || !found {
		return found, err
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "browser.forget", s.clientIP(c), "success", "browser "+handle))
	return true, nil
}

// secondFactorOf is the user's second factor for /whoami and the admin pages:
// "totp", or nil for none.
func (s *server) secondFactorOf(c *fiber.Ctx, userID int64) (*string, error) {
	f, err := s.mfa.Factor(c.UserContext(), userID)
	if err != nil || f == "" {
		return nil, err
	}
	return &f, nil
}
