package web

import (
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/sessions"
)

const (
	csrfHeader    = csrf.HeaderName // "X-Csrf-Token", what htmx sends via hx-headers
	csrfFormField = "_csrf"         // the hidden field of plain forms
	csrfCookie    = "csrf_"
	localCSRF     = "csrf"
)

var errCSRF = apperr.New(apperr.KindForbidden, "Missing or invalid CSRF token")

// csrfScope says which requests of a route the CSRF rule covers.
type csrfScope int

const (
	// csrfAlways: logging in and signing up. Every unsafe request is covered, with or
	// without a session cookie (a cross-site page must not log a user in as someone
	// else), and the page with the form gets a token.
	csrfAlways csrfScope = iota
	// csrfWithSession: everything a session cookie authenticates. An unsafe request is
	// covered when it carries the cookie; a page gets a token when someone is logged
	// in, so an anonymous visit creates no session just for a token.
	csrfWithSession
)

// csrfProtect is Fiber's csrf middleware bound to the session (a synchronizer token,
// checked against the csrf_ cookie as well), applied by the rule in design.md: an
// unsafe request in scope needs a valid token when a cross-site page could have sent
// it (needsCSRFToken). Safe requests in scope get a token to put in their forms.
func (s *server) csrfProtect(scope csrfScope) fiber.Handler {
	return csrf.New(csrf.Config{
		Next: func(c *fiber.Ctx) bool {
			if safeMethod(c.Method()) {
				// A token is for the forms of a page: a JSON answer has none to fill in,
				// and handing one out re-saves the session on every request (Fiber
				// extends the token each time), which cost a JSON GET /dashboard two
				// thirds of its throughput.
				return !wantsHTML(c) || scope == csrfWithSession && !sessionAuthenticated(c)
			}
			if scope == csrfWithSession && c.Cookies(sessions.CookieName) == "" {
				return true // no cookie, nothing for a forged request to ride on
			}
			return !needsCSRFToken(c)
		},
		Session:        s.sessions.Store(),
		Extractor:      csrfFromHeaderOrForm,
		ContextKey:     localCSRF,
		CookieName:     csrfCookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.Production(),
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		// The token lives in the session, so it cannot outlive it; the session's own
		// timeouts decide.
		Expiration: s.cfg.SessionAbsoluteTimeout,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return errCSRF
		},
	})
}

// needsCSRFToken is the rule's second half: a request needs a token when its body is
// one a cross-site HTML form (or a no-cors fetch) can send — urlencoded, multipart or
// text/plain — or when it says it comes from another site. Anything else needs none:
// a browser sends JSON (or any other type) to another site only after a CORS
// preflight, which we never grant, and a body with no type at all only with an Origin
// header. Our handlers read only JSON and forms, so any other type is refused (415).
func needsCSRFToken(c *fiber.Ctx) bool {
	if strings.EqualFold(c.Get("Sec-Fetch-Site"), "cross-site") {
		return true
	}
	if origin := c.Get(fiber.HeaderOrigin); origin != "" && !sameHost(origin, string(c.Request().Host())) {
		return true
	}
	ct := c.Get(fiber.HeaderContentType)
	return hasMediaType(ct, fiber.MIMEApplicationForm) || hasMediaType(ct, fiber.MIMEMultipartForm) ||
		hasMediaType(ct, fiber.MIMETextPlain)
}

// sameHost reports whether an Origin header names this host. The scheme is not
// compared: behind a TLS-terminating proxy we see http while the browser says https.
// "null" (sandboxed frames, some redirects) is never the same.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || host == "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

func safeMethod(method string) bool {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions, fiber.MethodTrace:
		return true
	}
	return false
}

func sessionAuthenticated(c *fiber.Ctx) bool {
	p, ok := principal(c)
	return ok && p.Method == auth.MethodSession
}

// csrfFromHeaderOrForm reads the token from X-Csrf-Token (htmx, scripts) or the
// form's hidden field (plain forms).
func csrfFromHeaderOrForm(c *fiber.Ctx) (string, error) {
	if t := c.Get(csrfHeader); t != "" {
		return t, nil
	}
	if isForm(c) {
		if t := c.FormValue(csrfFormField); t != "" {
			return t, nil
		}
	}
	return "", csrf.ErrTokenNotFound
}

// csrfToken is the token issued for this request ("" when none was).
func csrfToken(c *fiber.Ctx) string {
	t, _ := c.Locals(localCSRF).(string)
	return t
}
