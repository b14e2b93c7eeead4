package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fiberauth/internal/apperr"
)

// dbError maps a database error that has no more specific meaning to the caller:
// KindUnavailable when the database could not be reached or did not answer in
// time (worth a retry), KindInternal otherwise.
func dbError(err error) error {
	if unreachable(err) {
		return apperr.Wrap(apperr.KindUnavailable, "database unavailable", err)
	}
	return apperr.Wrap(apperr.KindInternal, "database error", err)
}

func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		// The low byte is the primary result code; still busy after busy_timeout.
		code := sqliteErr.Code() & 0xff
		return code == sqlite3.SQLITE_BUSY || code == sqlite3.SQLITE_LOCKED
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P: the server is shutting down or starting.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr)
}

// retryRead runs an idempotent read, and runs it once more when it failed on a
// connection the server had closed under the pool (pg_terminate_backend, a
// restart, idle_session_timeout, a proxy cutting idle connections): the pool hands
// out another connection, and a read asked twice answers the same. Writes never
// come here: one whose answer was lost may have been applied.
func retryRead[T any](ctx context.Context, read func() (T, error)) (T, error) {
	v, err := read()
	if err != nil && brokenConn(err) && ctx.Err() == nil {
		return read()
	}
	return v, err
}

// brokenConn reports whether err means the connection was gone, not that the
// database refused the statement. database/sql already retries what pgx marks
// safe to retry (nothing was sent: driver.ErrBadConn), but not a query that was
// sent on a connection the server had just ended, nor a Ping.
func brokenConn(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller gave up: a retry would only fail the same way
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// The server's answer. Only these say it ended this session; every other
		// one (a constraint, a syntax error, serialization) would come back again.
		switch pgErr.Code {
		case "57P01", // admin_shutdown: pg_terminate_backend, or a fast shutdown
			"57P02", // crash_shutdown: another backend crashed
			"57P05": // idle_session_timeout
			return true
		}
		return false
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

type constraint int

const (
	noViolation constraint = iota
	uniqueViolation
	foreignKeyViolation
)

// constraintOf reports which integrity constraint err broke, for either driver.
func constraintOf(err error) constraint {
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return uniqueViolation
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return foreignKeyViolation
		}
		return noViolation
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return uniqueViolation
		case "23503": // foreign_key_violation
			return foreignKeyViolation
		}
	}
	return noViolation
}
