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
	"strconv"
	"syscall"
	"time"

	"fiberauth/internal/config"
	"fiberauth/internal/metrics"
	"fiberauth/internal/service"
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
// when ctx is cancelled (after a graceful shutdown) or start-up fails. The password
// for `users create` is read from stdin, never from a flag.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	// Help, at any level, before anything is opened or even configured.
	if help, ok := helpFor(args); ok {
		fmt.Fprintln(stdout, help)
		return nil
	}

	// Config.
	cfg, err := config.Load(getenv, ".env")
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stdout)

	// Admin commands need only the store and the identity service.
	if len(args) > 0 {
		core, err := service.OpenCore(ctx, cfg, logger)
		if err != nil {
			return err
		}
		defer core.Close()
		switch args[0] {
		case "tokens":
			return tokensCommand(ctx, core.Tokens, cfg.AccessTokenTTL, args[1:], stdout)
		case "mail":
			return mailCommand(ctx, cfg, core, logger, args[1:], stdout)
		}
		return runCommand(ctx, core.Auth, cfg.RedisURL != "", args, stdin, stdout)
	}

	// Store, identity, sessions, web.
	srv, err := service.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer srv.Close()

	// Metrics, on their own listener so that they are never public (METRICS_ADDR).
	if cfg.MetricsAddr != "" {
		ms, err := metrics.Serve(srv.Metrics, cfg.MetricsAddr)
		if err != nil {
			return err
		}
		logger.Info("metrics listening", "addr", ms.Addr().String(), "path", "/metrics")
		defer func() {
			// After the app has drained, so that its last requests are counted; a
			// scrape under way gets a second to finish.
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := ms.Shutdown(ctx); err != nil {
				logger.Warn("metrics shutdown", "err", err)
			}
		}()
	}

	// Listen until the context ends, then drain: requests being handled finish (their
	// responses say Connection: close, so keep-alive clients send the next one
	// elsewhere), and connections only waiting for a request are closed at once
	// (drain.go), all within SHUTDOWN_TIMEOUT.
	tcp, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	ln := newDrainListener(tcp)
	defer ln.Close() // in case the shutdown came before Serve had taken the listener
	srv.App.Server().CloseOnShutdown = true
	logger.Info("listening", "url", displayURL(ln.Addr()), "env", cfg.Env, "demo_data", cfg.DemoData)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.App.Listener(ln) }()
	select {
	case err := <-serveErr:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	start := time.Now()
	if err := srv.App.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		// Only a request still being handled (or its response still being written)
		// can keep a connection open this long: the drain closed the others.
		return fmt.Errorf("shutdown: requests still running after SHUTDOWN_TIMEOUT (%s): %w", cfg.ShutdownTimeout, err)
	}
	logger.Info("stopped", "drain", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

var errUsage = errors.New("usage")

// displayURL is the address to open in a browser: "localhost" when listening on all
// interfaces, as with the default ADDR=:3000.
func displayURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return "http://" + addr.String()
	}
	return "http://localhost:" + strconv.Itoa(tcp.Port)
}
