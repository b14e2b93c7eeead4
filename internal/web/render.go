package web

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/sessions"
	"fiberauth/internal/web/htmx"
)

// viewData is what every template gets. Page holds what one page alone needs.
type viewData struct {
	Title             string
	Nav               string          // the nav entry of this page
	User              *auth.Principal // the logged-in user; nil when anonymous
	Session           *sessions.Info  // their session
	CSRF              string          // the CSRF token for forms and hx-headers ("" when none was issued)
	CSRFField         string          // the hidden field's name
	Flash             string          // a one-time status message
	Assets            assetURLs
	AllowRegistration bool
	DemoData          bool
	Form              formState
	Error             *errorDetail // on error pages
	Page              any
}

// viewData is the one builder of template data: who is logged in, the CSRF token,
// the asset URLs. The flash is added by render, for whole pages only.
func (s *server) viewData(c *fiber.Ctx, title, nav string) viewData {
	d := viewData{
		Title:             title,
		Nav:               nav,
		CSRF:              csrfToken(c),
		CSRFField:         csrfFormField,
		Assets:            s.assets.urls(),
		AllowRegistration: s.cfg.AllowRegistration,
		DemoData:          s.cfg.DemoData,
	}
	if p, ok := principal(c); ok && p.BySession() {
		d.User = &p
	}
	if info, ok := c.Locals(localSession).(sessions.Info); ok {
		d.Session = &info
	}
	return d
}

// view names a page and the fragment that stands for it in an htmx request.
type view struct {
	page     string
	fragment string // "" when the page has no fragment
}

// render is the one way HTML leaves the server: an htmx request gets the fragment,
// everything else the whole page in the layout. Vary tells caches the difference.
func (s *server) render(c *fiber.Ctx, status int, v view, data viewData) error {
	c.Status(status)
	if v.fragment != "" {
		htmx.Vary(c)
		if htmx.WantsFragment(c) {
			return c.Render(v.fragment, data, "")
		}
	}
	if data.Flash == "" {
		data.Flash = takeFlash(c, s.cfg.Production())
	}
	return c.Render(v.page, data, layoutMain)
}

// redirect sends a browser on to url once a form has done its work: htmx gets
// HX-Redirect (it would otherwise swap the next page into the form), a plain form
// post 303 See Other, so a reload does not post again.
func redirect(c *fiber.Ctx, url string) error {
	if htmx.IsRequest(c) {
		htmx.Redirect(c, url)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(url, fiber.StatusSeeOther)
}

// browser reports whether to answer with HTML rather than JSON, and marks the
// response as depending on the headers that decide it.
func browser(c *fiber.Ctx) bool {
	c.Vary(fiber.HeaderAccept)
	htmx.Vary(c)
	return wantsHTML(c)
}

// localPath returns next when it is a path on this site, else fallback. A browser
// treats "//host" and "/\host" (and the same with a tab or newline inside, which it
// strips) as another site, so only "/" followed by something else is accepted, with no
// backslashes and no control characters.
func localPath(next, fallback string) string {
	if next == "" || len(next) > 1024 || next[0] != '/' {
		return fallback
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return fallback
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return fallback
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return fallback
	}
	return next
}

// loginURL is the login page that leads back to next afterwards.
func loginURL(next string) string {
	if next = localPath(next, ""); next == "" || next == "/" {
		return "/login"
	}
	return "/login?next=" + url.QueryEscape(next)
}

// redirectToLogin sends a browser without a session to the login page and, for a
// page it asked for, back there afterwards.
func redirectToLogin(c *fiber.Ctx) error {
	next := ""
	switch {
	case htmx.IsRequest(c):
		if u, err := url.Parse(c.Get(htmx.HeaderCurrentURL)); err == nil {
			next = u.RequestURI()
		}
	case c.Method() == fiber.MethodGet:
		next = c.OriginalURL()
	}
	return redirect(c, loginURL(next))
}

// Flash messages travel in a short-lived cookie as a code, never as text, so nobody
// can put words on our pages through it.
const flashCookie = "flash"

var flashMessages = map[string]string{
	"logged-out":       "You have logged out.",
	"password-changed": "Your password has been changed. Your other sessions have been signed out.",
	"registered":       "Welcome! Your account is ready and you are logged in.",
	"key-revoked":      "The key has been revoked. It stops working at once.",
	"email-sent":       "A verification link is on its way to the new address. Open it to confirm the address.",
	"password-reset":   "Your password has been reset and every session signed out. Log in with the new password.",
	"session-ended":    "That session has been signed out. It stops working at once, everywhere.",
	"sessions-ended":   "Your other sessions have been signed out.",
	"passkey-removed":  "The passkey has been removed. It stops working at once.",
	"key-secret-gone":  "The new key's secret can no longer be shown. If you did not copy it, revoke the key and create another.",
	// After an admin's action on another user (handlers_admin.go).
	"user-disabled":            "The account is disabled. Its sessions have ended, and its password and keys are refused everywhere.",
	"user-enabled":             "The account is enabled again.",
	"user-role-changed":        "The role is changed. The user's sessions have ended; they log in again with the new role.",
	"user-logged-out":          "Every session of the user has ended. Their password and keys still work.",
	"user-second-factor-reset": "The user's second factors are reset: TOTP, recovery codes, remembered browsers and passkeys are gone.",
	// The second factor (handlers_totp.go).
	"totp-disabled":      "Two-factor authentication is off. Your recovery codes and remembered browsers no longer work.",
	"browser-forgotten":  "That browser is forgotten: it asks for a code at its next login.",
	"login-code-expired": "Your login waited too long for its code, or was never started. Log in again.",
}

func setFlash(c *fiber.Ctx, code string, secure bool) {
	c.Cookie(&fiber.Cookie{Name: flashCookie, Value: code, Path: "/", MaxAge: 60,
		Secure: secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
}

// takeFlash returns the pending flash message, if any, and clears it.
func takeFlash(c *fiber.Ctx, secure bool) string {
	code := c.Cookies(flashCookie)
	if code == "" {
		return ""
	}
	c.Cookie(&fiber.Cookie{Name: flashCookie, Path: "/", Expires: time.Unix(0, 0), MaxAge: -1,
		Secure: secure, HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	return flashMessages[code]
}

// formState is what a form shows: the values typed (never passwords), the errors by
// field, a message for the whole form, and a status after success.
type formState struct {
	Values  map[string]string
	Errors  map[string]string
	Message string
}

// Value is what the user typed into a field.
func (f formState) Value(name string) string { return f.Values[name] }

// Error is the message for a field ("" when it is fine).
func (f formState) Error(name string) string { return f.Errors[name] }

// form describes one HTML form, so that an error met while handling it (a bad field,
// wrong credentials, a missing CSRF token, a rate limit) is shown in the form itself.
type form struct {
	id     string // the form element's id; htmx swaps the re-rendered form there
	view   view   // the page holding the form, and the form as a fragment
	title  string
	nav    string
	fields []string // fields whose values are sent back (never passwords)
	// page loads the page's own data for a whole-page answer (nil when none).
	page func(c *fiber.Ctx) (any, error)
	// pageInFragment: the form itself shows page data, so the fragment needs it too.
	pageInFragment bool
}

// formError is an error met while handling a form.
type formError struct {
	err  error
	form *form
}

func (e *formError) Error() string { return e.err.Error() }
func (e *formError) Unwrap() error { return e.err }

// inForm puts the errors of the rest of the chain in the form f for browsers. JSON
// clients get the envelope as from any other route.
func inForm(f *form) fiber.Handler {
	return func(c *fiber.Ctx) error {
		err := c.Next()
		if err != nil && !errors.Is(err, errNoSession) && wantsHTML(c) {
			return &formError{err: err, form: f}
		}
		return err
	}
}

// renderError shows an error to a browser: a missing session sends it to log in, a
// form error goes back into the form, anything else is an error page or, for htmx, a
// fragment in the page's status region.
func (s *server) renderError(c *fiber.Ctx, err error, d errorDetail) error {
	if errors.Is(err, errNoSession) {
		return redirectToLogin(c)
	}
	s.lookUpSession(c)
	var fe *formError
	if errors.As(err, &fe) {
		return s.renderFormError(c, fe.form, d)
	}
	data := s.viewData(c, errorTitle(d.StatusCode), "")
	data.Error = &d
	if htmx.WantsFragment(c) {
		htmx.Retarget(c, "#status", "innerHTML")
	}
	return s.render(c, d.StatusCode, view{page: pageError, fragment: fragError}, data)
}

// lookUpSession lets an error page show who is logged in when no session
// middleware ran before the error (no route matched: 404, 405). It only finds an
// existing session, never starts one; a page that names the user is kept out of
// caches. Without a CSRF token (none was issued for this request) the header
// leaves out the logout button, which could not work.
func (s *server) lookUpSession(c *fiber.Ctx) {
	if authenticated(c) || c.Cookies(sessions.CookieName) == "" {
		return
	}
	info, ok, err := s.sessions.Current(c)
	if err != nil {
		s.log.WarnContext(c.UserContext(), "error page: reading the session failed", "request_id", requestID(c), "err", err)
		return
	}
	if ok {
		setSession(c, info)
		c.Set(fiber.HeaderCacheControl, "no-store")
	}
}

func (s *server) renderFormError(c *fiber.Ctx, f *form, d errorDetail) error {
	data := s.viewData(c, f.title, f.nav)
	data.Form = formState{Values: map[string]string{}, Errors: map[string]string{}, Message: d.Message}
	for _, name := range f.fields {
		data.Form.Values[name] = strings.TrimSpace(c.FormValue(name))
	}
	for _, fe := range d.Details {
		data.Form.Errors[fe.Field] = fe.Message
	}
	if d.StatusCode == fiber.StatusUnprocessableEntity {
		data.Form.Message = "Please correct the marked fields."
	}
	if d.StatusCode == fiber.StatusForbidden && d.Message == errCSRF.Message {
		data.Form.Message = "This form has expired. Reload the page and try again."
	}
	fragment := htmx.WantsFragment(c)
	if fragment {
		htmx.Retarget(c, "#"+f.id, "outerHTML")
	}
	if f.page != nil && (!fragment || f.pageInFragment) {
		page, err := f.page(c)
		if err != nil {
			return err
		}
		data.Page = page
	}
	return s.render(c, d.StatusCode, f.view, data)
}

func errorTitle(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "Page not found"
	case fiber.StatusForbidden:
		return "Not allowed"
	case fiber.StatusUnauthorized:
		return "Not logged in"
	case fiber.StatusTooManyRequests:
		return "Too many requests"
	case fiber.StatusMethodNotAllowed:
		return "Method not allowed"
	}
	if status >= 500 {
		return "Something went wrong"
	}
	return "Request not accepted"
}

// requiredFields reports the named fields that are empty, as a validation error.
func requiredFields(values map[string]string, names ...string) error {
	var fields []apperr.FieldError
	for _, n := range names {
		if values[n] == "" {
			fields = append(fields, apperr.FieldError{Field: n, Message: "is required"})
		}
	}
	if len(fields) > 0 {
		return apperr.Validation("Validation error", fields...)
	}
	return nil
}
