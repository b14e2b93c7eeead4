package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/basicauth"
	"github.com/gofiber/fiber/v2/middleware/keyauth"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
)

const (
	localPrincipal = "principal"
	localSession   = "session"
	headerAPIKey   = "X-API-Key"

	challengeBasic  = `Basic realm="fiberauth", charset="UTF-8"`
	challengeBearer = `Bearer realm="fiberauth"`
)

var (
	errNotAuthenticated = apperr.New(apperr.KindUnauthenticated, "Not authenticated")
	errAPIKeyRequired   = apperr.New(apperr.KindUnauthenticated, "API key required")
	// errNoSession is errNotAuthenticated from a route that wants a session: JSON
	// clients see the same 401, browsers are sent to the login page.
	errNoSession = apperr.New(apperr.KindUnauthenticated, "Not authenticated")
)

// principal is who the request authenticated as; ok is false for anonymous requests.
func principal(c *fiber.Ctx) (auth.Principal, bool) {
	p, ok := c.Locals(localPrincipal).(auth.Principal)
	return p, ok
}

func authenticated(c *fiber.Ctx) bool {
	_, ok := principal(c)
	return ok
}

// hasBasic reports whether the request offers Basic credentials.
func hasBasic(c *fiber.Ctx) bool {
	scheme, _ := authScheme(c.Get(fiber.HeaderAuthorization))
	return scheme == "basic"
}

// hasAPIKey reports whether the request offers an API key (Bearer or X-API-Key).
func hasAPIKey(c *fiber.Ctx) bool {
	scheme, _ := authScheme(c.Get(fiber.HeaderAuthorization))
	return scheme == "bearer" || c.Get(headerAPIKey) != ""
}

// basicAuth authenticates with HTTP Basic. With optional set, a request that offers
// no Basic credentials passes through untouched (for routes that accept any method).
func (s *server) basicAuth(optional bool) []fiber.Handler {
	var skip func(*fiber.Ctx) bool
	if optional {
		skip = func(c *fiber.Ctx) bool { return authenticated(c) || !hasBasic(c) }
	}
	// Only a request that offers a username and password is a login attempt: one
	// without (a browser's first request, before the prompt) must not use up the
	// attempts of everyone behind its address.
	noAttempt := func(c *fiber.Ctx) bool {
		_, _, ok := basicCredentials(c)
		return !ok || (skip != nil && skip(c))
	}
	return chain(
		s.loginThrottle(noAttempt, basicUsername, s.basicCredential),
		markAuthFailures,
		basicauth.New(basicauth.Config{
			Next:  skip,
			Realm: "fiberauth",
			// The Authorizer has no request context and can only answer yes or no, so
			// it says no only to wrong credentials: an outage passes through to the
			// next handler, which asks again with the request's context and returns
			// the real error (503, not a misleading 401). A verified credential is
			// cached, so that second look costs no bcrypt.
			Authorizer: func(username, password string) bool {
				_, err := s.auth.VerifyPassword(s.baseCtx, username, password)
				return !errors.Is(err, auth.ErrInvalidCredentials)
			},
			Unauthorized: func(c *fiber.Ctx) error {
				c.Set(fiber.HeaderWWWAuthenticate, challengeBasic)
				if c.Get(fiber.HeaderAuthorization) == "" {
					return errNotAuthenticated
				}
				return auth.ErrInvalidCredentials
			},
		}),
		func(c *fiber.Ctx) error {
			if (skip != nil && skip(c)) || authenticated(c) {
				return c.Next()
			}
			username, _ := c.Locals("username").(string)
			password, _ := c.Locals("password").(string)
			c.Locals("password", nil) // basicauth leaves the plaintext here; don't keep it around
			p, err := s.auth.VerifyPassword(c.UserContext(), username, password)
			if err != nil {
				c.Set(fiber.HeaderWWWAuthenticate, challengeBasic)
				return err
			}
			p.Method = auth.MethodBasic
			c.Locals(localPrincipal, p)
			return c.Next()
		},
	)
}

// basicUsername is the username a Basic header claims, for throttling ("" if none).
func basicUsername(c *fiber.Ctx) string {
	username, _, _ := basicCredentials(c)
	return username
}

// basicCredentials decodes a Basic header as basicauth does.
func basicCredentials(c *fiber.Ctx) (username, password string, ok bool) {
	scheme, creds := authScheme(c.Get(fiber.HeaderAuthorization))
	if scheme != "basic" {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(creds)
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// apiKeyAuth authenticates with an API key from "Authorization: Bearer" (any case) or
// X-API-Key. Fiber's keyauth matches its scheme case-sensitively and reads one header,
// so apiKeyToHeader first puts the key, wherever it came from, into X-API-Key.
func (s *server) apiKeyAuth(optional bool) []fiber.Handler {
	var skip func(*fiber.Ctx) bool
	if optional {
		skip = func(c *fiber.Ctx) bool { return authenticated(c) || !hasAPIKey(c) }
	}
	return []fiber.Handler{
		func(c *fiber.Ctx) error {
			if skip != nil && skip(c) {
				return c.Next()
			}
			return apiKeyToHeader(c)
		},
		keyauth.New(keyauth.Config{
			Next:      skip,
			KeyLookup: "header:" + headerAPIKey,
			Validator: func(c *fiber.Ctx, key string) (bool, error) {
				p, err := s.auth.VerifyAPIKey(c.UserContext(), key)
				if err != nil {
					return false, err
				}
				c.Locals(localPrincipal, p)
				return true, nil
			},
			ErrorHandler: func(c *fiber.Ctx, err error) error {
				if err == keyauth.ErrMissingOrMalformedAPIKey {
					c.Set(fiber.HeaderWWWAuthenticate, challengeBearer)
					return errAPIKeyRequired
				}
				if apperr.Is(err, apperr.KindUnauthenticated) {
					c.Set(fiber.HeaderWWWAuthenticate, challengeBearer+`, error="invalid_token"`)
				}
				return err
			},
		}),
	}
}

// apiKeyToHeader normalises the key's two possible sources into X-API-Key, refusing
// a request whose two sources disagree.
func apiKeyToHeader(c *fiber.Ctx) error {
	scheme, token := authScheme(c.Get(fiber.HeaderAuthorization))
	if scheme != "bearer" {
		return c.Next()
	}
	if token == "" {
		c.Set(fiber.HeaderWWWAuthenticate, challengeBearer+`, error="invalid_request"`)
		return errAPIKeyRequired
	}
	if other := c.Get(headerAPIKey); other != "" && other != token {
		return apperr.New(apperr.KindBadRequest, "Authorization and X-API-Key carry different keys")
	}
	c.Request().Header.Set(headerAPIKey, token)
	return c.Next()
}

// sessionAuth authenticates with the session cookie. With optional set, a request
// without a logged-in session passes through anonymous.
func (s *server) sessionAuth(optional bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if authenticated(c) {
			return c.Next()
		}
		info, ok, err := s.sessions.Current(c)
		if err != nil {
			return err
		}
		if ok {
			c.Locals(localSession, info)
			c.Locals(localPrincipal, auth.Principal{UserID: info.UserID, Username: info.Username,
				Role: info.Role, Method: auth.MethodSession, Permissions: auth.RolePermissions(info.Role)})
			return c.Next()
		}
		if optional {
			return c.Next()
		}
		return errNoSession
	}
}

// requireAuthenticated ends a chain of optional authenticators.
func requireAuthenticated(c *fiber.Ctx) error {
	if !authenticated(c) {
		c.Set(fiber.HeaderWWWAuthenticate, challengeBasic)
		c.Response().Header.Add(fiber.HeaderWWWAuthenticate, challengeBearer)
		return errNotAuthenticated
	}
	return c.Next()
}

// requireRole lets only users with the role through.
func requireRole(role, message string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p, _ := principal(c); p.Role != role {
			return apperr.New(apperr.KindForbidden, message)
		}
		return c.Next()
	}
}

// requirePermission lets only principals holding the permission through.
func requirePermission(permission, message string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if p, _ := principal(c); !p.Can(permission) {
			return apperr.New(apperr.KindForbidden, message)
		}
		return c.Next()
	}
}

// markAuthFailures sets the status of an authentication failure on the response as
// soon as it comes back up the chain, so the login throttle (a limiter that skips
// successful requests) sees it; every other outcome, a 403 included, counts as success.
func markAuthFailures(c *fiber.Ctx) error {
	err := c.Next()
	switch {
	case apperr.Is(err, apperr.KindUnauthenticated):
		c.Status(fiber.StatusUnauthorized)
	case errors.Is(err, auth.ErrWrongCurrentPassword):
		c.Status(fiber.StatusUnprocessableEntity)
	}
	return err
}

// sessionUsername is the logged-in user, for throttling password changes.
func sessionUsername(c *fiber.Ctx) string {
	p, _ := principal(c)
	return p.Username
}

// loginThrottle limits failed logins per claimed username and client IP. It is not
// Fiber's limiter, which counts successful requests while they are in flight (see
// package throttle). credential, when set, tells what the request carries: a digest
// that lets repeats of one credential in flight share one attempt, or that it is
// known to be right (it passed bcrypt moments ago) and needs none.
func (s *server) loginThrottle(skip func(*fiber.Ctx) bool, username func(*fiber.Ctx) string,
	credential func(*fiber.Ctx) (digest string, known bool)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if skip != nil && skip(c) {
			return c.Next()
		}
		key := "login-failures:" + strings.ToLower(username(c)) + "|" + s.clientIP(c)
		var digest string
		if credential != nil {
			var known bool
			if digest, known = credential(c); known {
				ok, retry, err := s.throttle.Known(key)
				if err != nil {
					return apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
				}
				if !ok {
					return tooManyFailedLogins(c, retry)
				}
				return c.Next()
			}
		}
		attempt, ok, retry, err := s.throttle.Begin(key, digest)
		if err != nil {
			return apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
		}
		if !ok {
			return tooManyFailedLogins(c, retry)
		}
		err = c.Next()
		// As with the limiter's SkipSuccessfulRequests: markAuthFailures has put the
		// 401 of a failed login on the response by now; anything below 400 succeeded.
		if eerr := attempt.End(c.Response().StatusCode() < fiber.StatusBadRequest); eerr != nil {
			s.log.WarnContext(c.UserContext(), "login throttle: recording the outcome failed", "err", eerr)
		}
		return err
	}
}

func tooManyFailedLogins(c *fiber.Ctx, retryAfter time.Duration) error {
	c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	return apperr.New(apperr.KindRateLimited, "Too many failed logins; try again later")
}

// basicCredential is what the throttle needs to know of a request's Basic
// credentials: whether they passed bcrypt moments ago, and if not a digest of them
// (never the password itself) so that repeats in flight share one attempt.
func (s *server) basicCredential(c *fiber.Ctx) (digest string, known bool) {
	username, password, ok := basicCredentials(c)
	if !ok {
		return "", false
	}
	if s.auth.RecentlyVerified(username, password) {
		return "", true
	}
	sum := sha256.Sum256([]byte(c.Get(fiber.HeaderAuthorization)))
	return string(sum[:]), false
}

// apiRateLimit limits requests per client on the API routes.
func (s *server) apiRateLimit() []fiber.Handler {
	return []fiber.Handler{limiter.New(limiter.Config{
		Max:          s.cfg.RateLimitMax,
		Expiration:   s.cfg.RateLimitWindow,
		Storage:      s.limits,
		KeyGenerator: s.rateKey,
		LimitReached: func(c *fiber.Ctx) error {
			return apperr.New(apperr.KindRateLimited, "Rate limit exceeded")
		},
	}), s.limitsReachable}
}

// limitsReachable fails closed when the limiter's storage does not answer: Fiber's
// limiter ignores storage errors, which would quietly turn every limit off.
func (s *server) limitsReachable(c *fiber.Ctx) error {
	if s.limits.failed(s.rateKey(c)) {
		return apperr.New(apperr.KindUnavailable, "Rate-limit storage is unavailable")
	}
	return c.Next()
}

// rateKey is the limiter's counter for the request's client.
func (s *server) rateKey(c *fiber.Ctx) string { return "rate:" + clientKey(s.clientIP(c)) }

// watchedStorage remembers, per key, whether the last call for it failed, so that
// limitsReachable judges a request by its own counter, not by another client's.
type watchedStorage struct {
	fiber.Storage
	failing sync.Map // key -> struct{}, present while the key's last call failed
}

func (w *watchedStorage) note(key string, err error) {
	if err != nil {
		w.failing.Store(key, struct{}{})
	} else {
		w.failing.Delete(key)
	}
}

func (w *watchedStorage) failed(key string) bool {
	_, bad := w.failing.Load(key)
	return bad
}

func (w *watchedStorage) Get(key string) ([]byte, error) {
	v, err := w.Storage.Get(key)
	w.note(key, err)
	return v, err
}

func (w *watchedStorage) Set(key string, val []byte, exp time.Duration) error {
	err := w.Storage.Set(key, val, exp)
	w.note(key, err)
	return err
}

// loginUsername is the username a /login body claims, for throttling.
func loginUsername(c *fiber.Ctx) string {
	var body struct {
		Username string `json:"username"`
	}
	if hasMediaType(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		_ = json.Unmarshal(c.Body(), &body)
		return body.Username
	}
	return c.FormValue("username")
}
