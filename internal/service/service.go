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
	"github.com/gofiber/storage/memory/v2"
	"github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"

	"fiberauth/internal/apidoc"
	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/sessions"
	"fiberauth/internal/store"
	"fiberauth/internal/web"
	"fiberauth/public"
	"fiberauth/views"
)

// Core is what both the server and the admin commands need: the store, the
// session/limiter storage, and the identity service over them, with the demo data
// seeded when configured.
type Core struct {
	Store store.Store
	// Storage is shared by every instance when it is Redis. The identity service
	// announces revokes and password changes there, so that every instance's caches
	// (and those of a server this admin CLI runs next to) drop them at once.
	Storage fiber.Storage
	Auth    *auth.Service
}

// OpenCore opens the database (applying migrations) and the storage, and builds the
// identity service.
func OpenCore(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Core, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	storage, err := OpenStorage(ctx, cfg.RedisURL)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := auth.NewService(st, auth.Options{BcryptCost: cfg.BcryptCost, CredentialTTL: auth.DefaultCredentialTTL,
		Shared: storage, Logger: logger})
	if err != nil {
		storage.Close()
		st.Close()
		return nil, err
	}
	core := &Core{Store: st, Storage: storage, Auth: svc}
	if cfg.DemoData {
		if err := svc.SeedDemo(ctx); err != nil {
			core.Close()
			return nil, fmt.Errorf("seeding demo data: %w", err)
		}
	}
	return core, nil
}

// Close flushes the identity service and closes the store and the storage.
func (c *Core) Close() error {
	return errors.Join(c.Auth.Close(), c.Store.Close(), c.Storage.Close())
}

// Server is the whole running application.
type Server struct {
	*Core
	App    *fiber.App
	pruner *auditPruner
}

// New builds the application from cfg.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Server, error) {
	core, err := OpenCore(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
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
	app := web.NewServer(web.Deps{
		Config: cfg,
		Logger: logger,
		Auth:   core.Auth,
		Sessions: sessions.NewManager(storage, sessions.Config{
			IdleTimeout:     cfg.SessionIdleTimeout,
			AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
			Secure:          cfg.Production(),
		}),
		Storage:      storage,
		StorageReady: storagePing(storage),
		Views:        engine,
		Static:       public.FS,
		APIDoc:       doc,
	})
	return &Server{Core: core, App: app, pruner: startAuditPruner(core.Store, cfg.AuditRetention, logger)}, nil
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
// that sessions and rate limits are shared by every instance. The Redis client gets
// short timeouts and one retry: when Redis is down, a request should fail fast with
// 503 rather than queue behind reconnect attempts.
func OpenStorage(ctx context.Context, redisURL string) (fiber.Storage, error) {
	if redisURL == "" {
		return memory.New(), nil
	}
	opts, err := goredis.ParseURL(redisURL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = time.Second
	opts.ReadTimeout = time.Second
	opts.WriteTimeout = time.Second
	opts.MaxRetries = 1
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("REDIS_URL: cannot connect to %s: %w", opts.Addr, err)
	}
	return redis.NewFromConnection(client), nil
}

// storagePing reports whether the storage answers, for /readyz.
func storagePing(storage fiber.Storage) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := storage.Get("readyz-probe")
		return err
	}
}
