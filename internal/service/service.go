// Package service wires the application together from a Config: store, identity
// service, session/limiter storage and the web app. `run` uses it, and so do the
// end-to-end tests and benchmarks, so they exercise exactly what production runs.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"
	goredis "github.com/redis/go-redis/v9"

	"fiberauth/internal/apidoc"
	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/mail"
	"fiberauth/internal/metrics"
	"fiberauth/internal/mfa"
	"fiberauth/internal/passkey"
	"fiberauth/internal/recovery"
	"fiberauth/internal/sessions"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
	"fiberauth/internal/token"
	"fiberauth/internal/web"
	"fiberauth/public"
	"fiberauth/views"
)

// Core is what both the server and the admin commands need: the store, the
// session/limiter storage, and the identity service over them, with the demo data
// seeded when configured.
type Core struct {
	Store store.Store
	// Storage is shared by every instance when it is Redis: sessions, limits, the
	// failed-login throttle, and the users' access generations, through which a
	// revoke or a password change (even one made by this admin CLI) counts on every
	// instance at once.
	Storage shared.Store
	Auth    *auth.Service
	// SecretsKey encrypts secrets at rest (SECRETS_KEY; see secretsKey).
	SecretsKey []byte
	// Tokens issues and verifies OAuth 2.0 tokens; its signing keys are in Store.
	Tokens *token.Service
}

// OpenCore opens the database (applying migrations) and the storage, and builds the
// identity service.
func OpenCore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Core, error) {
	return openCore(ctx, cfg, logger, nil)
}

// openCore is OpenCore, with the identity service telling observer (nil: nobody)
// of its caches and bcrypt times.
func openCore(ctx context.Context, cfg config.Config, logger *slog.Logger, observer auth.Observer) (*Core, error) {
	secrets, err := secretsKey(cfg)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	storage, err := OpenStorage(ctx, cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	// Without Redis the shared state is this process's own, so what the admin CLI
	// (another process) writes reaches a running server only through the database.
	genTTL := auth.DefaultGenerationTTL
	if cfg.RedisURL == "" {
		genTTL = auth.LocalGenerationTTL
	}
	svc, err := auth.NewService(ctx, st, auth.Options{BcryptCost: cfg.BcryptCost, CredentialTTL: auth.DefaultCredentialTTL,
		Shared: storage, GenerationTTL: genTTL, Logger: logger, Observer: observer})
	if err != nil {
		storage.Close()
		st.Close()
		return nil, err
	}
	core := &Core{Store: st, Storage: storage, Auth: svc, SecretsKey: secrets}
	if core.Tokens, err = openTokens(ctx, cfg, core, logger); err != nil {
		core.Close()
		return nil, err
	}
	if cfg.DemoData {
		if err := svc.SeedDemo(ctx); err != nil {
			core.Close()
			return nil, fmt.Errorf("seeding demo data: %w", err)
		}
	}
	return core, nil
}

// openTokens builds the token service over the core: the signing keys are made
// on first start (by one instance) and loaded.
func openTokens(ctx context.Context, cfg config.Config, core *Core, logger *slog.Logger) (*token.Service, error) {
	t, err := token.New(ctx, token.Options{Store: core.Store, Shared: core.Storage, Access: core.Auth, Audit: core.Auth,
		SecretsKey: core.SecretsKey, Algorithm: cfg.JWTAlgorithm, HS256Key: cfg.JWTSecret, Issuer: cfg.PublicURL,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, Logger: logger, Now: core.Auth.Now})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	return t, nil
}

// Close flushes the identity service and closes the store and the storage.
func (c *Core) Close() error {
	return errors.Join(c.Auth.Close(), c.Store.Close(), c.Storage.Close())
}

// Server is the whole running application.
type Server struct {
	*Core
	App *fiber.App
	// Metrics measures the app; run serves them on METRICS_ADDR when it is set.
	Metrics *metrics.Metrics
	pruner  *auditPruner
	// Mail sends the outbox (nil without SMTP_URL: mail then stays in the outbox,
	// shown at /dev/mailbox outside production).
	Mail *mail.Sender
	// Recovery's worker turns reset requests into queued mail.
	Recovery *recovery.Service
}

// New builds the application from cfg.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Server, error) {
	m := metrics.New()
	core, err := openCore(ctx, cfg, logger, m)
	if err != nil {
		return nil, err
	}
	keepSessions(cfg, core.Storage, logger)
	doc, err := apidoc.Load(ctx)
	if err != nil {
		core.Close()
		return nil, err
	}
	storage := core.Storage
	engine, err := web.NewViews(viewsFS(cfg))
	if err != nil {
		core.Close()
		return nil, err
	}
	sender, rec, err := OpenMail(cfg, core, logger)
	if err != nil {
		core.Close()
		return nil, err
	}
	csrfKey, err := core.Store.Secret(ctx, "csrf-anonymous", 32)
	if err != nil {
		core.Close()
		return nil, fmt.Errorf("reading the CSRF signing key: %w", err)
	}
	secondFactor, err := mfa.New(mfa.Options{Store: core.Store, Shared: storage, SecretsKey: core.SecretsKey})
	if err != nil {
		core.Close()
		return nil, fmt.Errorf("SECRETS_KEY: %w", err)
	}
	passkeys, err := passkey.New(passkey.Config{PublicURL: cfg.PublicURL, SecretsKey: core.SecretsKey, Store: core.Store,
		Shared: storage, Audit: core.Auth.Audit, Now: core.Auth.Now, Logger: logger})
	if err != nil {
		core.Close()
		return nil, err
	}
	static, reloadStatic := staticFS(cfg)
	app := web.NewServer(web.Deps{
		Config: cfg,
		Logger: logger,
		Auth:   core.Auth,
		Sessions: sessions.NewManager(storage, core.Auth, sessions.Config{
			IdleTimeout:     cfg.SessionIdleTimeout,
			AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
			Secure:          cfg.Production(),
		}),
		MFA:          secondFactor,
		Passkeys:     passkeys,
		Shared:       storage,
		StorageReady: storagePing(storage),
		Views:        engine,
		Static:       static,
		StaticReload: reloadStatic,
		APIDoc:       doc,
		CSRFKey:      csrfKey,
		Tokens:       core.Tokens,
		Recovery:     rec,
		Observer:     m,
	})
	rec.Start()
	if sender != nil {
		sender.Start()
	}
	return &Server{Core: core, App: app, Metrics: m, pruner: startAuditPruner(core.Store, cfg.AuditRetention, logger),
		Mail: sender, Recovery: rec}, nil
}

// OpenMail builds the recovery service over the outbox and, with SMTP_URL, the
// sender that empties it (neither started: the server starts both, the CLI's
// `mail test` runs the sender once).
func OpenMail(cfg config.Config, core *Core, logger *slog.Logger) (*mail.Sender, *recovery.Service, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fsys, _ := viewsFS(cfg)
	templates, err := mail.LoadTemplates(fsys)
	if err != nil {
		return nil, nil, err
	}
	var sender *mail.Sender
	notify := func() {}
	switch {
	case cfg.SMTPURL != "":
		transport, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, nil, err
		}
		sender = mail.NewSender(mail.Options{Store: core.Store, Transport: transport, Logger: logger})
		notify = sender.Wake
	case cfg.Production():
		logger.Warn("SMTP_URL is not set: email features are off (password reset and address changes answer 503); " +
			"mail already queued stays in the outbox until SMTP_URL is set")
	default:
		logger.Info("SMTP_URL is not set: mail stays in the outbox, shown at /dev/mailbox")
	}
	rec := recovery.New(recovery.Options{Store: core.Store, Auth: core.Auth, Templates: templates,
		PublicURL: cfg.PublicURL, Notify: notify, Logger: logger})
	return sender, rec, nil
}

// devSessionsFile is where development keeps the memory state (sessions, limits)
// across a restart, so that air restarting the server does not log anyone out.
const devSessionsFile = "data/sessions.json"

// keepSessions makes the memory state survive a restart: loaded now, saved when
// the storage closes (after the graceful shutdown). Development only, and only the
// server (not the admin CLI, which would save a stale copy): production and tests
// never write sessions to disk.
func keepSessions(cfg config.Config, storage shared.Store, logger *slog.Logger) {
	mem, ok := storage.(*shared.Memory)
	if !cfg.Development() || !ok {
		return
	}
	if err := mem.Persist(devSessionsFile); err != nil {
		logger.Warn("sessions from the last run are lost", "err", err)
	}
}

// staticFS is where the static files come from: the public folder in development
// when it is there (a CSS or JS edit shows on the next page load, no rebuild),
// else the embedded copy.
func staticFS(cfg config.Config) (fsys fs.FS, reload bool) {
	if cfg.Development() {
		if st, err := os.Stat("public"); err == nil && st.IsDir() {
			return os.DirFS("public"), true
		}
	}
	return public.FS, false
}

// viewsFS is where the templates come from: the views folder in development when it
// is there (edits show on the next request, no rebuild), else the embedded copy.
func viewsFS(cfg config.Config) (fsys fs.FS, reload bool) {
	if cfg.Development() {
		if st, err := os.Stat("views"); err == nil && st.IsDir() {
			return os.DirFS("views"), true
		}
	}
	return views.FS, false
}

// Close releases everything New opened; call it after the app has shut down.
func (s *Server) Close() error {
	s.Recovery.Stop()
	if s.Mail != nil {
		s.Mail.Stop()
	}
	s.pruner.stop()
	return s.Core.Close()
}

// auditPruneInterval is how often audit events past the retention are deleted.
const auditPruneInterval = time.Hour

// auditPruner deletes audit events older than the retention: once at start-up,
// then every auditPruneInterval. Only the server runs it; the admin CLI's OpenCore
// does not, so a command never races a server's prune or outlives its own work.
type auditPruner struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func startAuditPruner(st store.Store, retention time.Duration, logger *slog.Logger) *auditPruner {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &auditPruner{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		ticker := time.NewTicker(auditPruneInterval)
		defer ticker.Stop()
		for {
			// Not audited itself (it would add a row per hour to the table it trims);
			// the log line says what went.
			n, err := st.PruneAudit(ctx, time.Now().Add(-retention))
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				logger.WarnContext(ctx, "audit pruning failed", "deleted", n, "err", err)
			default:
				logger.InfoContext(ctx, "audit pruned", "deleted", n, "retention", retention.String())
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return p
}

// stop ends the pruner, and waits for a prune under way to stop between batches.
func (p *auditPruner) stop() {
	p.cancel()
	<-p.done
}

// OpenStorage returns in-process memory storage, or Redis when redisURL is set so
// that sessions, limits and access generations are shared by every instance.
//
// Every request that needs Redis must answer (503 when Redis does not) within
// RedisBound: the client gets short timeouts and no retry of a command that timed
// out, each compound operation is cut off at RedisOpTimeout, and nothing holds a
// lock across a call (the limiter is ours, not Fiber's: see web's sharedWindow).
func OpenStorage(ctx context.Context, redisURL string) (shared.Store, error) {
	if redisURL == "" {
		return shared.NewMemory(nil), nil
	}
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = 500 * time.Millisecond
	opts.ReadTimeout = RedisOpTimeout
	opts.WriteTimeout = RedisOpTimeout
	opts.PoolTimeout = RedisOpTimeout // waiting for a free connection when all are stuck
	opts.MaxRetries = -1              // a retry of a timed-out command doubles the wait
	opts.ContextTimeoutEnabled = true
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("REDIS_URL: cannot connect to %s: %w", opts.Addr, err)
	}
	return shared.NewRedis(client, RedisOpTimeout), nil
}

// RedisOpTimeout bounds one Redis command; RedisBound, what a request waits for
// Redis in all before it is answered 503 (a request stops at its first failed call).
const (
	RedisOpTimeout = 500 * time.Millisecond
	RedisBound     = 1500 * time.Millisecond
)

// storagePing reports whether the storage answers, for /readyz.
func storagePing(storage shared.Store) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := storage.Get("readyz-probe")
		return err
	}
}
