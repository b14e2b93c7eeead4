// Command fiberauth serves the demo and the API (`go run ./app`) and administers
// users and keys (`go run ./app users|keys ...`).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/storage/memory/v2"
	"github.com/gofiber/storage/redis/v3"

	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/sessions"
	"fiberauth/internal/store"
	"fiberauth/internal/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fiberauth:", err)
		os.Exit(1)
	}
}

// run starts the service, or runs an admin command when args name one. It returns
// when ctx is cancelled (after a graceful shutdown) or start-up fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	// Config.
	cfg, err := config.Load(getenv, ".env")
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	// Store and identity service.
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %w", err)
	}
	defer st.Close()
	authSvc, err := auth.NewService(st, auth.Options{BcryptCost: cfg.BcryptCost, CredentialTTL: auth.DefaultCredentialTTL, Logger: logger})
	if err != nil {
		return err
	}
	defer authSvc.Close()
	if cfg.DemoData {
		if err := authSvc.SeedDemo(ctx); err != nil {
			return fmt.Errorf("seeding demo data: %w", err)
		}
	}

	// Admin commands share everything above and stop here.
	if len(args) > 0 {
		return runCommand(ctx, authSvc, args, stdin, stdout)
	}

	// Sessions and rate-limit counters.
	storage, err := openStorage(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer storage.Close()
	sessionManager := sessions.NewManager(storage, sessions.Config{
		IdleTimeout:     cfg.SessionIdleTimeout,
		AbsoluteTimeout: cfg.SessionAbsoluteTimeout,
		Secure:          cfg.Production(),
	})

	// Web.
	app := web.NewServer(web.Deps{
		Config:       cfg,
		Logger:       logger,
		Auth:         authSvc,
		Sessions:     sessionManager,
		Storage:      storage,
		StorageReady: storagePing(storage),
	})

	// Listen until the context ends, then drain in-flight requests within a bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	logger.Info("listening", "addr", "http://"+ln.Addr().String(), "env", cfg.Env, "demo_data", cfg.DemoData)
	serveErr := make(chan error, 1)
	go func() { serveErr <- app.Listener(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	if err := app.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStorage returns in-process memory storage, or Redis when REDIS_URL is set so
// that sessions and rate limits are shared by every instance.
func openStorage(redisURL string) (storage fiber.Storage, err error) {
	if redisURL == "" {
		return memory.New(), nil
	}
	// The Redis storage panics when it cannot connect; turn that into a start-up error.
	defer func() {
		if r := recover(); r != nil {
			storage, err = nil, fmt.Errorf("REDIS_URL: cannot connect: %v", r)
		}
	}()
	return redis.New(redis.Config{URL: redisURL}), nil
}

// storagePing reports whether the storage answers, for /readyz.
func storagePing(storage fiber.Storage) func(context.Context) error {
	return func(ctx context.Context) error {
		_, err := storage.Get("readyz-probe")
		return err
	}
}

var errUsage = errors.New("usage")
