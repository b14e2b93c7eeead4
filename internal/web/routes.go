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
		anyAuth  = chain(apiLimit, singleCredential, noStore, s.basicAuth(true), s.tokenAuth(true), s.apiKeyAuth(true),
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
	app.Post("/account/password", chain(inForm(s.withAccountPage(passwordForm)), session, apiLimit,
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

	// Second factor: TOTP and recovery codes (handlers_totp.go). The code step of a
	// login reads only the pending-login cookie (requirePending): no session. Wrong
	// codes are throttled per user (codeThrottle); what asks for the password again
	// is throttled like a password change.
	totpForm := s.totpForm()
	app.Get("/login/verify", chain(noStore, s.sessionAuth(true), csrfLogin, s.handleLoginVerifyPage)...)
	app.Post("/login/verify", chain(noStore, inForm(verifyForm), apiLimit, csrfLogin, s.requirePending, s.codeThrottle(),
		s.handleLoginVerify)...)
	app.Post("/account/totp", chain(inForm(totpForm), session, apiLimit, s.handleTOTPStart)...)
	app.Post("/account/totp/confirm", chain(inForm(totpForm), session, apiLimit, s.handleTOTPConfirm)...)
	app.Post("/account/totp/disable", chain(inForm(totpForm), session, apiLimit,
		s.passwordAndCodeThrottle(), s.handleTOTPDisable)...)
	app.Post("/account/recovery-codes", chain(inForm(totpForm), session, apiLimit, s.loginThrottle(nil, sessionUsername, nil),
		s.handleRecoveryCodes)...)

	// Passkeys (handlers_passkeys.go): register and remove from a session; log in
	// with no username, throttled per client like failed passwords.
	app.Post("/account/passkeys/options", chain(session, apiLimit, s.handlePasskeyRegisterOptions)...)
	app.Post("/account/passkeys", chain(session, apiLimit, s.handlePasskeyRegister)...)
	app.Get("/account/passkeys", chain(session, s.handlePasskeysList)...)
	app.Delete("/account/passkeys/:id", chain(session, apiLimit, s.handlePasskeyRemove)...)
	app.Post("/account/passkeys/:id/delete", chain(session, apiLimit, s.handlePasskeyRemove)...)
	app.Post("/login/passkey/options", chain(noStore, apiLimit, csrfLogin, s.handlePasskeyLoginOptions)...)
	app.Post("/login/passkey", chain(noStore, apiLimit, csrfLogin, s.passkeyThrottle(), s.handlePasskeyLogin)...)

	// Tokens: the OAuth 2.0 password grant and JWT access tokens (handlers_tokens.go).
	// POST /token answers in RFC 6749's shape (oauthErrors) and is throttled like
	// every login; no cookie authenticates it and its answer is unreadable
	// cross-site, so it needs no CSRF token (OAuth clients send none).
	app.Post("/token", chain(s.oauthErrors, apiLimit, tokenForm,
		s.loginThrottle(notPasswordGrant, passwordGrantUsername, nil), s.handleToken)...)
	app.Post("/token/revoke", chain(s.oauthErrors, apiLimit, tokenForm, s.handleTokenRevoke)...)
	app.Get("/.well-known/jwks.json", s.handleJWKS)
	app.Get("/users/me", chain(apiLimit, singleCredential, noStore, s.tokenAuth(false), s.handleUsersMe)...)
	// Rolling an API key: a new secret, the old one ends after a grace period.
	app.Post("/keys/:id/roll", chain(inForm(s.keyRollForm()), session, apiLimit, s.handleKeyRoll)...)

	// Email: verification, password reset and the development mailbox (handlers_mail.go).
	// Asking for a reset link is limited per client and per account; a reset with a
	// link that does not work counts as a failed login of the client.
	app.Post("/account/email", chain(inForm(s.emailForm()), session, apiLimit, s.emailEnabled, s.emailThrottle(),
		s.handleEmailChange)...)
	app.Get("/account/email/verify", chain(page, s.handleEmailVerify)...)
	app.Get("/password/forgot", chain(noStore, s.sessionAuth(true), csrfLogin, s.handleForgotPage)...)
	app.Post("/password/forgot", chain(noStore, inForm(forgotForm), apiLimit, csrfLogin, s.emailEnabled, s.forgotLimit,
		s.handleForgot)...)
	app.Get("/password/reset", chain(noStore, s.sessionAuth(true), csrfLogin, s.handleResetPage)...)
	app.Post("/password/reset", chain(noStore, inForm(resetForm), apiLimit, csrfLogin, s.resetThrottle(), s.handleReset)...)
	if !s.cfg.Production() {
		// Every mail, reset links included: never in production.
		app.Get("/dev/mailbox", chain(noStore, s.sessionAuth(true), csrfLogin, s.handleDevMailbox)...)
	}
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
