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
		anyAuth  = chain(apiLimit, singleCredential, noStore, s.basicAuth(true), s.apiKeyAuth(true),
			s.sessionAuth(true), requireAuthenticated)

		// CSRF by the rule in design.md (csrf.go): csrfLogin for logging in, signing
		// up and the playground (forms anyone may post), csrfSession for whatever a
		// session cookie authenticates.
		csrfLogin   = s.csrfProtect(csrfAlways)
		csrfSession = s.csrfProtect(csrfWithSession)
		// page: a public page that knows who is logged in.
		page = chain(noStore, s.sessionAuth(true), csrfSession)
		// session: a page or action of a logged-in user; browsers without a session
		// are sent to /login, JSON clients get 401.
		session = chain(noStore, s.sessionAuth(false), csrfSession)
		admin   = chain(session, requireRole(store.RoleAdmin, "Admins only"))
	)

	// Public.
	app.Get("/healthz", s.handleHealthz)
	app.Get("/readyz", s.handleReadyz)
	app.Get("/static/:hash/*", s.assets.handle)
	app.Get("/openapi.json", s.handleOpenAPI)

	// HTTP Basic (the article's routes).
	app.Get("/basic/profile", chain(basic, s.handleBasicProfile)...)
	app.Get("/basic/admin", chain(basic, requireRole(store.RoleAdmin, "Admins only"), s.handleBasicAdmin)...)

	// API keys (the article's routes).
	app.Get("/apikey/data", chain(apiKey, requirePermission(store.PermRead, "Read access required"), s.handleAPIKeyData)...)
	app.Post("/apikey/create", chain(apiKey, requirePermission(store.PermWrite, "Write access required"), s.handleAPIKeyCreate)...)

	// Sessions (the article's routes, also the browser's: JSON or HTML by wantsHTML).
	app.Get("/login", chain(noStore, s.sessionAuth(true), csrfLogin, s.handleLoginPage)...)
	app.Post("/login", chain(noStore, inForm(loginForm), apiLimit, csrfLogin, s.countAttempt(methodLogin, anyRequest),
		s.loginThrottle(nil, loginUsername, nil),
		s.handleLogin)...)
	app.Get("/dashboard", chain(session, s.handleDashboard)...)
	app.Post("/logout", chain(noStore, csrfSession, s.handleLogout)...)

	// Any of the three methods.
	app.Get("/whoami", chain(anyAuth, s.handleWhoami)...)

	// Browser pages and their JSON twins.
	app.Get("/", chain(page, s.handleHome)...)
	app.Get("/register", chain(noStore, s.registrationOpen, s.sessionAuth(true), csrfLogin, s.handleRegisterPage)...)
	app.Post("/register", chain(noStore, s.registrationOpen, inForm(registerForm), apiLimit, csrfLogin, s.registerThrottle(),
		s.handleRegister)...)
	app.Get("/account", chain(session, s.handleAccountPage)...)
	app.Post("/account/password", chain(inForm(passwordForm), session, apiLimit,
		s.loginThrottle(nil, sessionUsername, nil), s.handlePasswordChange)...)
	app.Get("/admin/users", chain(admin, s.handleAdminUsers)...)

	// The logged-in user's sessions: see them, end one, end all others.
	app.Get("/account/sessions", chain(session, s.handleSessionsList)...)
	app.Post("/account/sessions/revoke-others", chain(session, apiLimit, s.handleSessionsRevokeOthers)...)
	app.Delete("/account/sessions/:id", chain(session, apiLimit, s.handleSessionEnd)...)
	app.Post("/account/sessions/:id/end", chain(session, apiLimit, s.handleSessionEnd)...)

	// The audit log, for admins: filters, pages and the CSV export (handlers_audit.go).
	app.Get("/admin/audit", chain(admin, inForm(auditForm), s.handleAdminAudit)...)

	// Admin controls over one user (handlers_admin.go); what writes is rate-limited
	// per client too. The POST twins of PUT and DELETE are for plain forms.
	app.Get("/admin/users/:id", chain(admin, s.handleAdminUser)...)
	app.Post("/admin/users/:id/disable", chain(admin, apiLimit, s.handleAdminDisable)...)
	app.Post("/admin/users/:id/enable", chain(admin, apiLimit, s.handleAdminEnable)...)
	app.Put("/admin/users/:id/role", chain(admin, apiLimit, s.handleAdminRole)...)
	app.Post("/admin/users/:id/role", chain(admin, apiLimit, s.handleAdminRole)...)
	app.Post("/admin/users/:id/logout", chain(admin, apiLimit, s.handleAdminLogout)...)
	app.Delete("/admin/users/:id/second-factor", chain(admin, apiLimit, s.handleAdminResetSecondFactor)...)
	app.Post("/admin/users/:id/second-factor/reset", chain(admin, apiLimit, s.handleAdminResetSecondFactor)...)

	// Try it and read it. The playground's calls go through the routes above, each
	// with its own middleware (playground.go); the form itself is CSRF-protected.
	app.Get("/docs", chain(page, s.handleDocs)...)
	app.Get("/playground", chain(noStore, s.sessionAuth(true), csrfLogin, s.handlePlayground)...)
	app.Post("/playground/send", chain(noStore, inForm(s.playgroundForm()), s.sessionAuth(true), csrfLogin,
		s.handlePlaygroundSend)...)

	// The logged-in user's API keys; what writes is rate-limited per client too.
	app.Get("/keys", chain(session, s.handleKeysList)...)
	app.Post("/keys", chain(inForm(s.keyForm()), session, apiLimit, s.handleKeyCreate)...)
	app.Delete("/keys/:id", chain(session, apiLimit, s.handleKeyRevoke)...)
	app.Post("/keys/:id/revoke", chain(session, apiLimit, s.handleKeyRevoke)...)

	// Second factor: TOTP and recovery codes (handlers_totp.go).

	// Passkeys (handlers_passkeys.go).

	// Tokens: the OAuth 2.0 password grant and JWT access tokens (handlers_tokens.go).

	// Email: verification, password reset and the development mailbox (handlers_mail.go).
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
