package web

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/sessions"
	"fiberauth/internal/throttle"
)

// Observer is told what the HTTP layer does, for metrics (the metrics package
// implements it). Every label it is given comes from a small fixed set: a route
// pattern (never the raw path), a method, a status, the names below.
type Observer interface {
	// Request is one answered request: route is its pattern (routeUnmatched when
	// no route matched), method a known HTTP method or "other".
	Request(route, method string, status int, took time.Duration)
	// AuthAttempt is one attempt to authenticate: method is auth.MethodBasic,
	// auth.MethodAPIKey, auth.MethodSession or methodLogin; outcome one of the
	// outcome* constants.
	AuthAttempt(method, outcome string)
	// Refused is a request refused by a limit: refusedRateLimit or refusedThrottle.
	Refused(limit string)
}

// Labels given to the Observer.
const (
	routeUnmatched = "unmatched"
	methodLogin    = "login" // POST /login, JSON or form

	outcomeSuccess   = "success"
	outcomeFailure   = "failure"   // wrong password, unknown or revoked key, dead session
	outcomeThrottled = "throttled" // refused by the failed-login throttle before any check
	outcomeDisabled  = "disabled"  // right credential of a disabled account
	outcomeError     = "error"     // the check could not be made (an outage)

	refusedRateLimit = "rate_limit"
	refusedThrottle  = "login_throttle"
)

type nopObserver struct{}

func (nopObserver) Request(string, string, int, time.Duration) {}
func (nopObserver) AuthAttempt(string, string)                 {}
func (nopObserver) Refused(string)                             {}

// methodLabel is the method as a label: a standard one, or "other".
func methodLabel(method string) string {
	switch method {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodPost, fiber.MethodPut,
		fiber.MethodPatch, fiber.MethodDelete, fiber.MethodOptions:
		return method
	}
	return "other"
}

// routeTable knows the registered routes by their handler lists, so that a request
// that matched only app.Use middleware (a 404 or a 405) is labelled routeUnmatched
// rather than by the middleware's "/" or whatever path it asked for. The route
// structs Fiber hands back are copies, but their handler slices are the routes'
// own, so the first element's address names a route exactly. Built once after the
// routes are in, read-only after.
type routeTable map[*fiber.Handler]bool

func newRouteTable(app *fiber.App) routeTable {
	t := routeTable{}
	for _, r := range app.GetRoutes(true) { // true: without app.Use middleware
		if len(r.Handlers) > 0 {
			t[&r.Handlers[0]] = true
		}
	}
	return t
}

// labels are the route and method labels of a request that has been handled.
func (t routeTable) labels(c *fiber.Ctx) (route, method string) {
	method = methodLabel(c.Method())
	// After c.Next() has returned, c.Route() is the last route that matched: the
	// route itself, or a middleware's (or, for fasthttp's own errors, a stand-in
	// holding the raw path) when no route did.
	r := c.Route()
	if r == nil || len(r.Handlers) == 0 || !t[&r.Handlers[0]] {
		return routeUnmatched, method
	}
	return r.Path, method
}

// countAttempt counts one authentication attempt by method when isAttempt says
// the request makes one, with the outcome read from the principal the chain set
// and the error it returned.
func (s *server) countAttempt(method string, isAttempt func(*fiber.Ctx) bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !isAttempt(c) {
			return c.Next()
		}
		err := c.Next()
		s.observe.AuthAttempt(method, attemptOutcome(c, method, err))
		return err
	}
}

// attemptOutcome names how an authentication attempt by method ended.
func attemptOutcome(c *fiber.Ctx, method string, err error) string {
	if p, ok := principal(c); ok && p.Method == method {
		return outcomeSuccess // whatever the handler answered after
	}
	var refused *throttle.Refused
	switch {
	case errors.As(err, &refused):
		return outcomeThrottled
	case errors.Is(err, auth.ErrAccountDisabled):
		return outcomeDisabled
	case err == nil && c.Response().StatusCode() < fiber.StatusBadRequest:
		return outcomeSuccess // POST /login sets no principal
	case apperr.Is(err, apperr.KindInternal), apperr.Is(err, apperr.KindUnavailable):
		return outcomeError
	}
	return outcomeFailure
}

// countSession counts a request that brought a session cookie as a session
// attempt: a live session is a success, a dead or unknown one a failure.
func (s *server) countSession(c *fiber.Ctx, ok bool, err error) {
	if c.Cookies(sessions.CookieName) == "" {
		return
	}
	switch {
	case err != nil:
		s.observe.AuthAttempt(auth.MethodSession, outcomeError)
	case ok:
		s.observe.AuthAttempt(auth.MethodSession, outcomeSuccess)
	default:
		s.observe.AuthAttempt(auth.MethodSession, outcomeFailure)
	}
}

// anyRequest makes every request an attempt (POST /login).
func anyRequest(*fiber.Ctx) bool { return true }
