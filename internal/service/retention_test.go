package service

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
)

// The server prunes audit events past AUDIT_RETENTION as soon as it starts (and
// hourly after), and Close stops the job.
func TestAuditPrunedAtStart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "audit.db")
	st, err := store.Open(t.Context(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.AuditEvent{
		{At: time.Now().Add(-3 * time.Hour), Actor: "mallory", Action: "login", Outcome: "failure", Detail: "old"},
		{At: time.Now().Add(-2 * time.Hour), Actor: "mallory", Action: "login", Outcome: "failure", Detail: "old"},
		{At: time.Now().Add(-time.Minute), Actor: "alice", Action: "login", Outcome: "success", Detail: "new"},
	} {
		if err := st.AppendAudit(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	logs := &testenv.Buffer{}
	cfg := testConfig(t, map[string]string{"DATABASE_URL": dbPath, "AUDIT_RETENTION": "1h", "DEMO_DATA": "false"})
	srv, err := New(t.Context(), cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	closed := false // Close is not idempotent
	t.Cleanup(func() {
		if !closed {
			srv.Close()
		}
	})

	// The first prune runs in the background so that start-up never waits on a big
	// table: wait for its log line.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), `"msg":"audit pruned"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no prune logged 10s after start:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"deleted":2`) {
		t.Errorf("the prune's log line does not say it deleted 2:\n%s", logs)
	}
	events, err := srv.Store.ListAudit(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Detail != "new" {
		t.Errorf("events after the prune: %+v, want only the new one", events)
	}

	closed = true
	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-srv.pruner.done:
	default:
		t.Error("the pruning job still runs after Close")
	}
}
