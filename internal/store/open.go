package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"fiberauth/internal/apperr"
)

// The two schemas differ (identity columns, case-insensitive uniqueness), so each
// dialect has its own directory of versioned migrations.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// Open connects to the database named by databaseURL and brings its schema up to
// date. A postgres:// or postgresql:// URL is PostgreSQL; anything else is SQLite: a
// file path or a sqlite:, sqlite:// or file: URL, whose folder is created if missing
// and whose query parameters (such as _pragma=cache_size(-8000)) go to the driver.
// ":memory:" is a throw-away SQLite database. Errors are KindUnavailable when the
// database cannot be reached, KindInternal when its schema cannot be migrated.
func Open(ctx context.Context, databaseURL string) (Store, error) {
	var (
		s   *sqlStore
		err error
	)
	if strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://") {
		s, err = openPostgres(ctx, databaseURL)
	} else {
		s, err = openSQLite(ctx, databaseURL)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func openPostgres(ctx context.Context, databaseURL string) (*sqlStore, error) {
	db, err := sql.Open("pgx", databaseURL)
	if err != nil {
		return nil, apperr.Wrap(apperr.KindUnavailable, "cannot open database", err)
	}
	// Bounded, so that several instances stay under the server's max_connections;
	// idle connections are kept so a busy instance does not reconnect per query.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, apperr.Wrap(apperr.KindUnavailable, "cannot connect to database", err)
	}
	return &sqlStore{dialect: goose.DialectPostgres, r: db, w: db}, nil
}

// openSQLite opens two pools on the same file: one connection that does every write,
// so writers queue in Go instead of retrying on SQLITE_BUSY, and several read-only
// connections, which WAL lets run alongside the writer.
func openSQLite(ctx context.Context, databaseURL string) (*sqlStore, error) {
	path, params := sqlitePath(databaseURL)
	if path == "" {
		return nil, apperr.New(apperr.KindUnavailable, "cannot open database: empty SQLite path")
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, apperr.Wrap(apperr.KindUnavailable, "cannot create database folder", err)
		}
	}
	// busy_timeout still matters with one writer: another process (the admin CLI)
	// may hold the lock. _txlock=immediate takes the write lock at BEGIN, so a
	// transaction never fails half-way trying to upgrade a read lock.
	// synchronous(NORMAL) under WAL loses nothing to a crash of the process, only
	// possibly the last transactions to a power cut.
	w, err := sql.Open("sqlite", path+"?"+joinParams(params,
		"_pragma=busy_timeout(5000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		"_txlock=immediate",
	))
	if err != nil {
		return nil, apperr.Wrap(apperr.KindUnavailable, "cannot open database", err)
	}
	w.SetMaxOpenConns(1)
	if err := retryNewFile(ctx, func() error { return w.PingContext(ctx) }); err != nil {
		w.Close()
		return nil, apperr.Wrap(apperr.KindUnavailable, "cannot open database", err)
	}
	if path == ":memory:" {
		// Every connection to :memory: is a database of its own: share the one.
		return &sqlStore{dialect: goose.DialectSQLite3, r: w, w: w}, nil
	}

	// query_only turns a write sent to the wrong pool into an error instead of a
	// second writer competing for the lock.
	r, err := sql.Open("sqlite", path+"?"+joinParams(params,
		"_pragma=busy_timeout(5000)",
		"_pragma=foreign_keys(1)",
		"_pragma=query_only(1)",
	))
	if err != nil {
		w.Close()
		return nil, apperr.Wrap(apperr.KindUnavailable, "cannot open database", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	return &sqlStore{dialect: goose.DialectSQLite3, r: r, w: w}, nil
}

// sqlitePath splits a SQLite database URL into the file path and any query
// parameters, which are passed on to the driver.
func sqlitePath(databaseURL string) (path, params string) {
	path, params, _ = strings.Cut(databaseURL, "?")
	for _, prefix := range []string{"sqlite://", "sqlite:", "file://", "file:"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			return rest, params
		}
	}
	return path, params
}

// joinParams puts the caller's own parameters after ours.
func joinParams(extra string, params ...string) string {
	if extra != "" {
		params = append(params, extra)
	}
	return strings.Join(params, "&")
}

// migrate applies the embedded migrations that the database has not seen yet.
func (s *sqlStore) migrate(ctx context.Context) error {
	dir := "migrations/sqlite"
	if s.dialect == goose.DialectPostgres {
		dir = "migrations/postgres"
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return apperr.Wrap(apperr.KindInternal, "migrating database", err)
	}
	opts := []goose.ProviderOption{
		goose.WithLogger(goose.NopLogger()),
		goose.WithDisableGlobalRegistry(true),
	}
	if s.dialect == goose.DialectPostgres {
		// Several instances may start at once: an advisory lock lets one migrate
		// while the others wait (polling every second, for up to five minutes).
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return apperr.Wrap(apperr.KindInternal, "migrating database", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(s.dialect, s.w, fsys, opts...)
	if err != nil {
		return apperr.Wrap(apperr.KindInternal, "migrating database", err)
	}
	up := func() error { _, err := p.Up(ctx); return err }
	if s.dialect == goose.DialectSQLite3 {
		err = retryNewFile(ctx, up)
	} else {
		err = up()
	}
	if err != nil {
		kind := apperr.KindInternal
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			kind = apperr.KindUnavailable
		}
		return apperr.Wrap(kind, "migrating database", err)
	}
	return nil
}

// retryNewFile tries fn up to three times. Two processes creating the same SQLite
// file at once can collide where neither waits for the other: goose has no
// migration lock for SQLite, and SQLite may refuse the switch to WAL with
// SQLITE_BUSY instead of waiting. The loser's next try finds the work done.
func retryNewFile(ctx context.Context, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || attempt == 3 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
		}
	}
}
