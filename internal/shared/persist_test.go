package shared

import (
	"path/filepath"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

// A persisted Memory comes back with its keys and their expiries: what had a
// deadline keeps it (to the second the storage counts in), what expired while the
// process was down is not loaded, and what never expires stays.
func TestPersistKeepsKeysAndExpiries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.json")
	clock := testenv.NewClock(time.Now())
	first := NewMemory(clock.Now)
	if err := first.Persist(path); err != nil {
		t.Fatal(err)
	}
	start := clock.Now()
	must(t, first.Set("session-long", []byte("alice"), 10*time.Second))
	must(t, first.Set("session-short", []byte("bob"), 2*time.Second))
	must(t, first.Set("forever", []byte("x"), 0))
	must(t, first.Set("deleted", []byte("y"), 0))
	must(t, first.Delete("deleted"))
	if _, err := first.Raise("generation:1", 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	must(t, first.Close())

	clock.Advance(4 * time.Second) // the restart took 4 s
	second := NewMemory(clock.Now)
	if err := second.Persist(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	for key, want := range map[string]string{"session-long": "alice", "forever": "x", "generation:1": "3", "session-short": "", "deleted": ""} {
		got, err := second.Get(key)
		if err != nil || string(got) != want {
			t.Errorf("after the restart %s = %q (%v), want %q", key, got, err, want)
		}
	}
	deadline := second.persist.expires["session-long"]
	want := start.Add(10 * time.Second).UnixNano()
	if deadline < want || deadline > want+int64(time.Second) {
		t.Errorf("session-long now expires %v after the first start, want 10s (to the second)", time.Duration(deadline-start.UnixNano()))
	}
	if second.persist.expires["forever"] != 0 {
		t.Error("a key without expiry got one")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
