package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"fiberauth/internal/apperr"
)

func TestSQLitePath(t *testing.T) {
	tests := []struct {
		url, wantPath, wantParams string
	}{
		{"data/fiberauth.db", "data/fiberauth.db", ""},
		{"/var/lib/fiberauth.db", "/var/lib/fiberauth.db", ""},
		{"sqlite:data/x.db", "data/x.db", ""},
		{"sqlite:///var/lib/x.db", "/var/lib/x.db", ""},
		{"sqlite://data/x.db", "data/x.db", ""},
		{"file:data/x.db?_pragma=cache_size(-4000)", "data/x.db", "_pragma=cache_size(-4000)"},
		{"file:///tmp/x.db", "/tmp/x.db", ""},
		{":memory:", ":memory:", ""},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			path, params := sqlitePath(tt.url)
			if path != tt.wantPath || params != tt.wantParams {
				t.Errorf("sqlitePath(%q) = %q, %q; want %q, %q", tt.url, path, params, tt.wantPath, tt.wantParams)
			}
		})
	}
}

func TestOpenSQLite(t *testing.T) {
	tests := []struct {
		name string
		url  func(path string) string
	}{
		{"plain path", func(p string) string { return p }},
		{"sqlite: URL", func(p string) string { return "sqlite:" + p }},
		{"sqlite:// URL", func(p string) string { return "sqlite://" + p }},
		{"file: URL with a parameter of its own", func(p string) string { return "file:" + p + "?_pragma=cache_size(-4000)" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The folder does not exist yet: Open creates it.
			path := filepath.Join(t.TempDir(), "missing", "folder", "test.db")
			s := openTestStore(t, tt.url(path))
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database file not created: %v", err)
			}
			wantNoErr(t, s.Ping(t.Context()))

			// The pragmas took effect on the writer connection.
			w := s.(*sqlStore).w
			for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "busy_timeout": "5000"} {
				var got string
				wantNoErr(t, w.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got))
				if got != want {
					t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
				}
			}
		})
	}
}

func TestOpenInMemory(t *testing.T) {
	s := openTestStore(t, ":memory:")
	mustCreateUser(t, s, "john", RoleUser)
	if _, err := s.UserByUsername(t.Context(), "john"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailsAsUnavailable(t *testing.T) {
	tests := []struct{ name, url string }{
		{"PostgreSQL not listening", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5"},
		{"SQLite folder cannot be created", "sqlite:" + filepath.Join(os.DevNull, "sub", "x.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			wantKind(t, err, apperr.KindUnavailable)
		})
	}
}

func TestRebind(t *testing.T) {
	query := `SELECT a FROM t WHERE b = ? AND c IN (?, ?)`
	tests := []struct {
		dialect goose.Dialect
		want    string
	}{
		{goose.DialectSQLite3, query},
		{goose.DialectPostgres, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
	}
	for _, tt := range tests {
		s := &sqlStore{dialect: tt.dialect}
		if got := s.q(query); got != tt.want {
			t.Errorf("%s: q = %q, want %q", tt.dialect, got, tt.want)
		}
	}
}
