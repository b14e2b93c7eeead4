// Package testenv is what tests of several packages share: the external services
// they need (a PostgreSQL schema of their own, a clean Redis, or a skip with a clear
// message when the environment has none) and a few small helpers. Only tests import it.
package testenv

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// PostgresURL returns the URL of an empty schema of its own in TEST_POSTGRES_URL's
// database, dropped when the test ends; it skips the test when the variable is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("TEST_POSTGRES_URL not set; skipping PostgreSQL")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_POSTGRES_URL: %v", err)
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open PostgreSQL: %v", err)
	}
	schema := "t_" + strings.ToLower(rand.Text())
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// Registered before the caller's Close, so it runs after it.
		if _, err := db.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		db.Close()
	})
	q := u.Query()
	q.Set("search_path", schema) // pgx sends unknown URL parameters as run-time settings
	u.RawQuery = q.Encode()
	return u.String()
}

// RedisURL returns TEST_REDIS_URL after emptying its database, so counters and
// sessions of earlier runs cannot leak in; it skips the test when the variable is unset.
// Tests using it must not run in parallel with each other.
func RedisURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("TEST_REDIS_URL")
	if raw == "" {
		t.Skip("TEST_REDIS_URL not set; skipping Redis")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	client := redis.NewClient(opts)
	defer client.Close()
	if err := client.FlushDB(t.Context()).Err(); err != nil {
		t.Fatalf("flush Redis: %v", err)
	}
	return raw
}
