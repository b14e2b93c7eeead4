// Package web is the HTTP layer: routes, middleware, handlers and the one error
// handler. It asks the auth service and the session manager; it never touches SQL
// or the storage itself.
package web

import (
	"context"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/helmet"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
	"github.com/valyala/fasthttp"

	"fiberauth/internal/apidoc"
	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/handoff"
	"fiberauth/internal/mfa"
	"fiberauth/internal/passkey"
	"fiberauth/internal/recovery"
	"fiberauth/internal/sessions"
	"fiberauth/internal/shared"
	"fiberauth/internal/throttle"
	"fiberauth/internal/token"
)

// contentSecurityPolicy allows only our own scripts, styles and forms: no inline
// code, no third-party hosts, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// Deps is everything the HTTP layer needs, built by the caller.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	Auth     *auth.Service
	Sessions *sessions.Manager
	// MFA is the second factor: TOTP, recovery codes, pending logins and
	// remembered browsers. Required.
	MFA *mfa.Service
	// Passkeys runs the WebAuthn ceremonies (package passkey). Required.
	Passkeys *passkey.Service
	// Shared is the state every instance sees (memory, or Redis shared by all
	// instances): rate-limit counters and the failed-login throttle.
	Shared shared.Store
	// StorageReady reports whether the session/limiter storage answers (for /readyz); nil means always.
	StorageReady func(context.Context) error
	// Views renders the HTML pages (NewViews over views.FS, or the views folder in
	// development). Required.
	Views fiber.Views
	// Static holds the files served under /static/ (public.FS). Required.
	Static fs.FS
	// StaticReload reads Static again for every page (development: edits show
	// without a restart); otherwise it is read once, at start-up.
	StaticReload bool
	// APIDoc is the OpenAPI document served at /openapi.json (without its demo
	// credentials unless Config.DemoData).
	APIDoc *apidoc.Doc
	// Recovery verifies email addresses and resets passwords (mail through the
	// outbox). Required.
	Recovery *recovery.Service
	// CSRFKey signs the CSRF tokens of visitors who have no session; every
	// instance must have the same one (service.New reads it from the database).
	// At least 32 bytes. Required.
	CSRFKey []byte
	// Tokens issues and verifies OAuth 2.0 tokens (internal/token). Required.
	Tokens *token.Service
	// Observer is told of requests, authentication attempts and refusals, for
	// metrics (observe.go); nil: nobody.
	Observer Observer
}

type server struct {
	cfg          config.Config
	log          *slog.Logger
	auth         *auth.Service
	sessions     *sessions.Manager
	mfa          *mfa.Service
	passkeys     *passkey.Service
	shared       shared.Store
	storageReady func(context.Context) error
	throttle     *throttle.Throttle // failed logins per username and client IP
	apiDoc       *apidoc.Doc
	csrfKey      []byte
	trusted      []netip.Prefix
	baseCtx      context.Context
	assets       *staticFiles
	playground   *playground             // what /playground may call (playground.go)
	apiRef       *apiReference           // the /docs page, built once (apiref.go)
	handoff      *handoff.Store          // a new key's secret, from POST /keys to the dashboard
	tokens       *token.Service          // access and refresh tokens (handlers_tokens.go)
	recovery     *recovery.Service       // email verification and password reset (handlers_mail.go)
	serve        fasthttp.RequestHandler // this app's own handler, for the playground's calls
	observe      Observer
	routeTable   routeTable // the registered routes, for request labels (observe.go)

	// renderErrorPage, when set, renders an error for browsers.
	renderErrorPage func(c *fiber.Ctx, err error, d errorDetail) error
}

// NewServer builds the application from its dependencies. Missing views or static
// files are a programming error and panic, like a bad route table.
func NewServer(d Deps) *fiber.App {
	if d.Views == nil || d.Static == nil || d.APIDoc == nil || d.Tokens == nil || d.Recovery == nil || d.MFA == nil ||
		d.Passkeys == nil || len(d.CSRFKey) < 32 {
		panic("web.NewServer: Deps.Views, Deps.Static, Deps.APIDoc, Deps.Tokens, Deps.Recovery, Deps.MFA, Deps.Passkeys " +
			"and a 32-byte Deps.CSRFKey are required")
	}
	assets, err := newStaticFiles(d.Static, d.StaticReload)
	if err != nil {
		panic("web.NewServer: " + err.Error())
	}
	doc := d.APIDoc
	if !d.Config.DemoData {
		// The demo credentials are public: a service without them (production
		// always) does not name them in /openapi.json, /docs or the playground.
		if doc, err = doc.WithoutDemo(context.Background()); err != nil {
			panic("web.NewServer: " + err.Error())
		}
	}
	pg, err := newPlayground(doc)
	if err != nil {
		panic("web.NewServer: " + err.Error())
	}
	ref, err := newAPIReference(doc, pg, d.Config.DemoData)
	if err != nil {
		panic("web.NewServer: " + err.Error())
	}
	s := &server{
		cfg:          d.Config,
		log:          d.Logger,
		auth:         d.Auth,
		sessions:     d.Sessions,
		mfa:          d.MFA,
		passkeys:     d.Passkeys,
		shared:       d.Shared,
		storageReady: d.StorageReady,
		throttle:     throttle.New(d.Shared, d.Config.LoginMaxFailures, d.Config.LoginFailureWindow, nil),
		apiDoc:       doc,
		csrfKey:      d.CSRFKey,
		trusted:      parseTrustedProxies(d.Config.TrustedProxies),
		baseCtx:      context.Background(),
		assets:       assets,
		playground:   pg,
		apiRef:       ref,
		handoff:      handoff.New(d.Shared, newKeyHandoffTTL, d.Auth.Now),
		tokens:       d.Tokens,
		recovery:     d.Recovery,
	}
	s.renderErrorPage = s.renderError
	s.observe = d.Observer
	if s.observe == nil {
		s.observe = nopObserver{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	app := fiber.New(fiber.Config{
		AppName:               "fiberauth",
		ErrorHandler:          s.handleError,
		Views:                 d.Views,
		BodyLimit:             d.Config.BodyLimit,
		ReadBufferSize:        16 << 10, // room for cookies and long Authorization headers
		ReadTimeout:           15 * time.Second,
		WriteTimeout:          15 * time.Second,
		IdleTimeout:           60 * time.Second,
		DisableStartupMessage: true,
		// We compute the client IP ourselves (clientIP), trusting X-Forwarded-For only
		// from TRUSTED_PROXIES. Fiber's own c.IP() is not used. Note that c.Protocol()
		// and c.Hostname() believe X-Forwarded-Proto/Host from anyone; what reads them
		// only gets stricter when they lie (csrf's Referer check, helmet's HSTS) or is
		// cosmetic (the playground's curl base URL).
	})

	app.Use(
		sanitizeRequestID,
		sessions.DropForeignCookie,
		requestid.New(requestid.Config{Generator: utils.UUIDv4, ContextKey: localRequestID}),
		recover.New(), // outermost: a panic in the error handler itself
		s.accessLog,
		// Before anything reads the body, but inside the access log: a request whose
		// length is in doubt is answered 400, with a request ID, and logged.
		refuseAmbiguousFraming,
		recover.New(), // inside the access log, so a panicking handler is logged as a 500
		helmet.New(helmet.Config{
			ContentSecurityPolicy: contentSecurityPolicy,
			ReferrerPolicy:        "same-origin",
			HSTSMaxAge:            hstsMaxAge(d.Config),
		}),
	)
	if len(d.Config.CORSAllowOrigins) > 0 {
		app.Use(cors.New(cors.Config{
			AllowOrigins:     strings.Join(d.Config.CORSAllowOrigins, ","),
			AllowHeaders:     "Authorization, X-API-Key, Content-Type",
			AllowCredentials: false, // API clients authenticate with headers, not cookies
		}))
	}
	s.routes(app)
	s.routeTable = newRouteTable(app)
	// Taken once, now that every route is in: Handler() also builds the route tree,
	// which must not happen while requests are being served.
	s.serve = app.Handler()
	return app
}

// hstsMaxAge turns HSTS on in production only (helmet sends it over https only).
func hstsMaxAge(cfg config.Config) int {
	if cfg.Production() {
		return 365 * 24 * 60 * 60
	}
	return 0
}
