package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"fiberauth/internal/apperr"
	"fiberauth/internal/testenv"
)

// A read that meets a connection the server has closed (pg_terminate_backend, a
// restart, an idle timeout) is tried once more on another connection, instead of
// failing its request with a 503. Only PostgreSQL closes connections under us.
func TestReadsSurviveAKilledConnection(t *testing.T) {
	reads := []struct {
		name string
		read func(t *testing.T, s Store, u User) error
	}{
		{"UserByUsername", func(t *testing.T, s Store, u User) error {
			_, err := s.UserByUsername(t.Context(), u.Username)
			return err
		}},
		{"UserByID", func(t *testing.T, s Store, u User) error { _, err := s.UserByID(t.Context(), u.ID); return err }},
		{"APIKeyByDigest", func(t *testing.T, s Store, u User) error {
			_, err := s.APIKeyByDigest(t.Context(), strings.Repeat("ab", 32))
			return err
		}},
		{"ListAPIKeys", func(t *testing.T, s Store, u User) error { _, err := s.ListAPIKeys(t.Context(), u.ID); return err }},
		{"ListUsers", func(t *testing.T, s Store, u User) error { _, err := s.ListUsers(t.Context()); return err }},
		{"ListAudit", func(t *testing.T, s Store, u User) error { _, err := s.ListAudit(t.Context(), "", 10); return err }},
		{"Ping", func(t *testing.T, s Store, u User) error { return s.Ping(t.Context()) }},
	}
	for _, tt := range reads {
		t.Run(tt.name+" is served after its connection is killed", func(t *testing.T) {
			s, app, killer := openKillableStore(t)
			u := mustCreateUser(t, s, "alice", RoleUser)
			mustCreateKey(t, s, u.ID, strings.Repeat("ab", 32), nil, PermRead)
			if err := tt.read(t, s, u); err != nil { // the pool now holds connections it believes good
				t.Fatalf("first read: %v", err)
			}
			killBackends(t, killer, app)
			if err := tt.read(t, s, u); err != nil {
				t.Fatalf("read after its connection was killed: %v", err)
			}
		})
	}
}

// openKillableStore opens a store on PostgreSQL whose connections carry an
// application_name of their own, so that the test kills only those, and a second
// connection to kill them from.
func openKillableStore(t *testing.T) (s Store, app string, killer *sql.DB) {
	t.Helper()
	base := testenv.PostgresURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	app = "fiberauth_test_" + u.Query().Get("search_path") // the schema is random, and the test's own
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	killer, err = sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killer.Close() })
	return openTestStore(t, u.String()), app, killer
}

func TestBrokenConn(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"a backend ended by pg_terminate_backend", &pgconn.PgError{Code: "57P01"}, true},
		{"a backend ended by a crash of another", &pgconn.PgError{Code: "57P02"}, true},
		{"a session ended by idle_session_timeout", &pgconn.PgError{Code: "57P05"}, true},
		{"a connection the pool knows is bad", driver.ErrBadConn, true},
		{"a connection pgx has closed", fmt.Errorf("query: %w", pgconn.ErrConnClosed), true},
		{"a socket cut mid-answer", apperr.Wrap(apperr.KindUnavailable, "database unavailable", io.ErrUnexpectedEOF), true},
		{"a connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true},
		{"a unique violation is the database's answer", &pgconn.PgError{Code: "23505"}, false},
		{"a serialization failure is not a broken connection", &pgconn.PgError{Code: "40001"}, false},
		{"the server refusing new connections at start-up", &pgconn.PgError{Code: "57P03"}, false},
		{"a cancelled request", fmt.Errorf("query: %w", context.Canceled), false},
		{"a timed-out request", fmt.Errorf("%w: %w", context.DeadlineExceeded, io.ErrUnexpectedEOF), false},
		{"no rows", sql.ErrNoRows, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := brokenConn(tt.err); got != tt.want {
				t.Errorf("brokenConn(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// killBackends terminates every connection with the application name, and waits
// until they are gone.
func killBackends(t *testing.T, db *sql.DB, app string) {
	t.Helper()
	var n int
	err := db.QueryRowContext(t.Context(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE pid <> pg_backend_pid() AND datname = current_database() AND application_name = $1`, app).Scan(&n)
	if err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	if n == 0 {
		t.Fatal("no connection of the store's to kill")
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		var left int
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = $1`, app).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still alive after pg_terminate_backend", left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
