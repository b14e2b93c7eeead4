package web

import (
	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/store"
)

// routes lists every route with the middleware it gets, so the security of the
// whole API can be read on one screen.
func (s *server) routes(app *fiber.App) {
	var (
		apiLimit = s.apiRateLimit()
		basic    = chain(apiLimit, singleCredential, noStore, s.basicAuth(false))
		apiKey   = chain(apiLimit, singleCredential, noStore, s.apiKeyAuth(false))
		session  = chain(noStore, s.sessionAuth(false))
		anyAuth  = chain(apiLimit, singleCredential, noStore, s.basicAuth(true), s.apiKeyAuth(true),
			s.sessionAuth(true), requireAuthenticated)
	)

	// Public.
	app.Get("/healthz", s.handleHealthz)
	app.Get("/readyz", s.handleReadyz)
	app.Get("/openapi.json", s.handleOpenAPI)

	// HTTP Basic (the article's routes).
	app.Get("/basic/profile", chain(basic, s.handleBasicProfile)...)
	app.Get("/basic/admin", chain(basic, requireRole(store.RoleAdmin, "Admins only"), s.handleBasicAdmin)...)

	// API keys (the article's routes).
	app.Get("/apikey/data", chain(apiKey, requirePermission(store.PermRead, "Read access required"), s.handleAPIKeyData)...)
	app.Post("/apikey/create", chain(apiKey, requirePermission(store.PermWrite, "Write access required"), s.handleAPIKeyCreate)...)

	// Sessions (the article's routes).
	app.Post("/login", chain(noStore, s.loginThrottle(nil, loginUsername), markAuthFailures, s.handleLogin)...)
	app.Get("/dashboard", chain(session, s.handleDashboard)...)
	app.Post("/logout", chain(noStore, s.handleLogout)...)

	// Any of the three methods.
	app.Get("/whoami", chain(anyAuth, s.handleWhoami)...)
}

// chain flattens handlers and handler lists into one route's handler list.
func chain(parts ...any) []fiber.Handler {
	var out []fiber.Handler
	for _, p := range parts {
		switch h := p.(type) {
		case fiber.Handler:
			out = append(out, h)
		case []fiber.Handler:
			out = append(out, h...)
		default:
			panic("web.chain: not a handler")
		}
	}
	return out
}
