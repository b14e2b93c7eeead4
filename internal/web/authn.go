package web

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/basicauth"
	"github.com/gofiber/fiber/v2/middleware/keyauth"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/sessions"
	"fiberauth/internal/throttle"
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
		s.countAttempt(auth.MethodBasic, func(c *fiber.Ctx) bool { return !noAttempt(c) }),
		s.loginThrottle(noAttempt, basicUsername, s.basicKnown),
		basicToCanonical,
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
			p, err := s.auth.VerifyPassword(auth.RepeatedCheck(c.UserContext()), username, password)
			if err != nil {
				if !errors.Is(err, auth.ErrAccountDisabled) { // a right password: no new one will help
					c.Set(fiber.HeaderWWWAuthenticate, challengeBasic)
				}
				return err
			}
			p.Method = auth.MethodBasic
			c.Locals(localPrincipal, p)
			return c.Next()
		},
	)
}

// basicToCanonical rewrites a Basic Authorization header as Fiber's basicauth reads
// it ("Basic " and the credentials, one space), so that it and authScheme, which
// the throttle uses, agree on every header RFC 7235 allows ("basic", several
// spaces).
func basicToCanonical(c *fiber.Ctx) error {
	if scheme, creds := authScheme(c.Get(fiber.HeaderAuthorization)); scheme == "basic" {
		c.Request().Header.Set(fiber.HeaderAuthorization, "Basic "+creds)
	}
	return c.Next()
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
		s.countAttempt(auth.MethodAPIKey, func(c *fiber.Ctx) bool { return !(skip != nil && skip(c)) && hasAPIKey(c) }),
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
		s.countSession(c, ok, err)
		if err != nil {
			return err
		}
		if ok {
			setSession(c, info)
			return c.Next()
		}
		if optional {
			return c.Next()
		}
		return errNoSession
	}
}

// setSession makes the logged-in session info the request's principal. A session
// that logged in with a passkey says so (auth.MethodPasskey); it is a session in
// every other respect.
func setSession(c *fiber.Ctx, info sessions.Info) {
	method := auth.MethodSession
	if info.Method == loginPasskey {
		method = auth.MethodPasskey
	}
	c.Locals(localSession, info)
	c.Locals(localPrincipal, auth.Principal{UserID: info.UserID, Username: info.Username,
		Role: info.Role, Method: method, Permissions: auth.RolePermissions(info.Role),
		Generation: info.Generation})
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

// sessionUsername is the logged-in user, for throttling password changes.
func sessionUsername(c *fiber.Ctx) string {
	p, _ := principal(c)
	return p.Username
}

// loginThrottle limits failed logins per claimed username and client (package
// throttle): only a wrong password counts, never more than LOGIN_MAX_FAILURES are
// checked in a window on all instances together, and a correct one is never
// refused as a failure. known, when set, tells that the request's credential
// passed a check moments ago: it tests nothing, so it takes no place, but is
// refused while the subject is blocked like any other.
func (s *server) loginThrottle(skip func(*fiber.Ctx) bool, username func(*fiber.Ctx) string,
	known func(*fiber.Ctx) bool) fiber.Handler {
	subject := func(c *fiber.Ctx) string { return strings.ToLower(username(c)) + "|" + s.limitedClient(c) }
	return s.failureThrottle(skip, subject, known, wrongPassword)
}

// registerThrottle limits sign-ups that find the username taken, per client: each
// one tells whether an account exists, as a failed login would, and is counted as
// one.
func (s *server) registerThrottle() fiber.Handler {
	subject := func(c *fiber.Ctx) string { return "register|" + s.limitedClient(c) }
	return s.failureThrottle(nil, subject, nil, func(err error) bool { return apperr.Is(err, apperr.KindConflict) })
}

// failureThrottle admits a request as an attempt of subject(c) that may fail, and
// counts it as failed when failed says so of its error.
func (s *server) failureThrottle(skip func(*fiber.Ctx) bool, subject func(*fiber.Ctx) string,
	known func(*fiber.Ctx) bool, failed func(error) bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if skip != nil && skip(c) {
			return c.Next()
		}
		who := subject(c)
		if known != nil && known(c) {
			if err := s.throttle.Check(who); err != nil {
				return s.throttleError(c, err)
			}
			return c.Next()
		}
		attempt, err := s.throttle.Begin(c.UserContext(), who)
		if err != nil {
			return s.throttleError(c, err)
		}
		err = c.Next()
		if eerr := attempt.End(failed(err)); eerr != nil {
			s.log.WarnContext(c.UserContext(), "login throttle: recording the outcome failed", "err", eerr)
		}
		return err
	}
}

// wrongPassword reports whether a login's error says its password was checked and
// wrong. Anything else (success, a malformed request, a 403 for a right password, an
// outage) is not a failed guess and must not count against the user.
func wrongPassword(err error) bool {
	return errors.Is(err, auth.ErrInvalidCredentials) || errors.Is(err, auth.ErrWrongCurrentPassword) ||
		errors.Is(err, auth.ErrWrongPassword)
}

// throttleError answers a refused attempt with 429 and Retry-After, and a storage
// that does not answer with 503. The refusal stays the error's cause, so that the
// attempt is counted as throttled (attemptOutcome).
func (s *server) throttleError(c *fiber.Ctx, err error) error {
	var refused *throttle.Refused
	if !errors.As(err, &refused) {
		return apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
	}
	s.observe.Refused(refusedThrottle)
	c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(int64((refused.RetryAfter+time.Second-1)/time.Second), 10))
	if refused.Busy {
		return apperr.Wrap(apperr.KindRateLimited, "Too many logins in progress; try again shortly", refused)
	}
	return apperr.Wrap(apperr.KindRateLimited, "Too many failed logins; try again later", refused)
}

// basicKnown reports whether the request's Basic credentials passed bcrypt moments
// ago (so checking them again tests nothing).
func (s *server) basicKnown(c *fiber.Ctx) bool {
	username, password, ok := basicCredentials(c)
	return ok && s.auth.RecentlyVerified(username, password)
}

// apiRateLimit limits requests per client on the API routes: Fiber's limiter,
// counting in the shared state with one atomic operation (sharedWindow).
func (s *server) apiRateLimit() fiber.Handler {
	return limiter.New(limiter.Config{
		Max:               s.cfg.RateLimitMax,
		Expiration:        s.cfg.RateLimitWindow,
		KeyGenerator:      s.rateKey,
		LimiterMiddleware: sharedWindow{store: s.shared},
		LimitReached: func(c *fiber.Ctx) error {
			s.observe.Refused(refusedRateLimit)
			return apperr.New(apperr.KindRateLimited, "Rate limit exceeded")
		},
	})
}

// rateKey is the limiter's counter for the request's client.
func (s *server) rateKey(c *fiber.Ctx) string { return "rate:" + s.limitedClient(c) }

// limitedClient is who a limit or throttle counts the request against: its client
// IP, or that IP's /64 for IPv6 (clientKey).
func (s *server) limitedClient(c *fiber.Ctx) string { return clientKey(s.clientIP(c)) }

// loginUsername is the username a /login body claims, for throttling.
func loginUsername(c *fiber.Ctx) string {
	var body struct {
		Username string `json:"username"`
	}
	if hasMediaType(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON) {
		// The handler refuses a body that decodes only by turning bytes into U+FFFD;
		// its mangled username must not pick a throttle key either.
		if checkJSONText(c.Body()) != nil {
			return ""
		}
		_ = json.Unmarshal(c.Body(), &body)
		return body.Username
	}
	return c.FormValue("username")
}
