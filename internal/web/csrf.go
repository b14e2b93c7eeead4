package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/csrf"

	"fiberauth/internal/apperr"
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

// csrfProtect applies the rule in design.md: an unsafe request in scope needs a
// valid token when a cross-site page could have sent it (needsCSRFToken), and safe
// requests in scope that want HTML get a token to put in their forms.
//
// A logged-in user's token is Fiber's csrf bound to the session (a synchronizer
// token, checked against the csrf_ cookie as well). A visitor with no session gets
// a signed double-submit token instead (signedTokens): Fiber's csrf with a
// "storage" that stores nothing and recognises a token by its signature, so that
// showing a login form to someone who has not logged in costs the server nothing
// that outlives the request. Logging in (sessions.Start) binds the next token to
// the session.
func (s *server) csrfProtect(scope csrfScope) fiber.Handler {
	next := func(c *fiber.Ctx) bool {
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
	}
	config := csrf.Config{
		Next:           next,
		Extractor:      csrfFromHeaderOrForm,
		ContextKey:     localCSRF,
		CookieName:     csrfCookie,
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.Production(),
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		ErrorHandler: func(c *fiber.Ctx, err error) error {
			return errCSRF
		},
	}
	bound := config
	bound.Session = s.sessions.Store()
	// The token lives in the session, so it cannot outlive it; the session's own
	// timeouts decide.
	bound.Expiration = s.cfg.SessionAbsoluteTimeout
	withSession := csrf.New(bound)
	if scope == csrfWithSession {
		return withSession
	}
	signed := newSignedTokens(s.csrfKey, anonymousTokenTTL, time.Now)
	anonymous := config
	anonymous.Storage = signed
	anonymous.KeyGenerator = signed.mint
	anonymous.Expiration = anonymousTokenTTL
	withoutSession := csrf.New(anonymous)
	return func(c *fiber.Ctx) error {
		if sessionAuthenticated(c) {
			return withSession(c)
		}
		return withoutSession(c)
	}
}

// anonymousTokenTTL is how long a form shown to a visitor may be sent.
const anonymousTokenTTL = 12 * time.Hour

// signedTokens mints CSRF tokens that carry their own proof: a random nonce, an
// expiry, and an HMAC of both under a key every instance shares. As the "storage"
// of Fiber's csrf middleware it stores nothing: Get recognises a token by its
// signature and expiry, and Set and Delete do nothing. Fiber's csrf still checks
// that the token sent with the form equals the one in the csrf_ cookie (the
// double submit), which a cross-site page can neither read nor set.
type signedTokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

func newSignedTokens(key []byte, ttl time.Duration, now func() time.Time) signedTokens {
	return signedTokens{key: key, ttl: ttl, now: now}
}

const (
	signedNonceBytes = 16
	signedBodyBytes  = signedNonceBytes + 8 // nonce, then the expiry in unix seconds
)

var tokenEncoding = base64.RawURLEncoding

// mint is a new token: base64url(nonce | expiry) "." base64url(HMAC-SHA256).
func (t signedTokens) mint() string {
	body := make([]byte, signedBodyBytes)
	_, _ = rand.Read(body[:signedNonceBytes]) // crypto/rand.Read never fails
	binary.BigEndian.PutUint64(body[signedNonceBytes:], uint64(t.now().Add(t.ttl).Unix()))
	return tokenEncoding.EncodeToString(body) + "." + tokenEncoding.EncodeToString(t.sign(body))
}

func (t signedTokens) sign(body []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte("fiberauth csrf v1\x00"))
	m.Write(body)
	return m.Sum(nil)
}

// valid reports whether token was minted with our key and has not expired.
func (t signedTokens) valid(token string) bool {
	encBody, encSig, ok := strings.Cut(token, ".")
	if !ok || len(token) > 128 {
		return false
	}
	body, err1 := tokenEncoding.DecodeString(encBody)
	sig, err2 := tokenEncoding.DecodeString(encSig)
	if err1 != nil || err2 != nil || len(body) != signedBodyBytes || !hmac.Equal(sig, t.sign(body)) {
		return false
	}
	return t.now().Unix() < int64(binary.BigEndian.Uint64(body[signedNonceBytes:]))
}

func (t signedTokens) Get(token string) ([]byte, error) {
	if t.valid(token) {
		return []byte{1}, nil
	}
	return nil, nil
}

func (signedTokens) Set(string, []byte, time.Duration) error { return nil }
func (signedTokens) Delete(string) error                     { return nil }
func (signedTokens) Reset() error                            { return nil }
func (signedTokens) Close() error                            { return nil }

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
	return ok && p.BySession()
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
