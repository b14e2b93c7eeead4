package handoff

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiberauth/internal/shared"
	"fiberauth/internal/testenv"
)

func newStore(t *testing.T) (*Store, *shared.Memory, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(time.Now())
	mem := shared.NewMemory(clock.Now)
	t.Cleanup(func() { mem.Close() })
	return New(mem, time.Minute, clock.Now), mem, clock
}

func TestTake(t *testing.T) {
	secret := []byte("sk_live_the-secret")
	tests := []struct {
		name   string
		take   func(h *Store, clock *testenv.Clock, ticket string) ([]byte, bool, error)
		wantOK bool
	}{
		{"the owner takes the value with its ticket", func(h *Store, _ *testenv.Clock, ticket string) ([]byte, bool, error) {
			return h.Take("7", ticket)
		}, true},
		{"a second take finds nothing", func(h *Store, _ *testenv.Clock, ticket string) ([]byte, bool, error) {
			if _, ok, err := h.Take("7", ticket); !ok || err != nil {
				t.Fatalf("first take: %v %v", ok, err)
			}
			return h.Take("7", ticket)
		}, false},
		{"another owner with the same ticket finds nothing", func(h *Store, _ *testenv.Clock, ticket string) ([]byte, bool, error) {
			return h.Take("8", ticket)
		}, false},
		{"a take after the time to live finds nothing", func(h *Store, clock *testenv.Clock, ticket string) ([]byte, bool, error) {
			clock.Advance(time.Minute + time.Second)
			return h.Take("7", ticket)
		}, false},
		{"another ticket finds nothing", func(h *Store, _ *testenv.Clock, ticket string) ([]byte, bool, error) {
			return h.Take("7", strings.Repeat("A", 26))
		}, false},
		{"a malformed ticket finds nothing", func(h *Store, _ *testenv.Clock, ticket string) ([]byte, bool, error) {
			return h.Take("7", ticket+"x")
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _, clock := newStore(t)
			ticket, err := h.Put("7", secret)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := tt.take(h, clock, ticket)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || ok && !bytes.Equal(got, secret) || !ok && got != nil {
				t.Errorf("Take = %q, %v; want ok = %v", got, ok, tt.wantOK)
			}
		})
	}
}

// readTogether is a shared state on which two reads both finish before either
// goes on, so that two takes certainly both see the value before either could
// delete it.
type readTogether struct {
	*shared.Memory
	arrived *sync.WaitGroup
}

func (r readTogether) Get(key string) ([]byte, error) {
	v, err := r.Memory.Get(key)
	r.arrived.Done()
	r.arrived.Wait()
	return v, err
}

func TestTwoTakesAtOnceGetTheValueOnce(t *testing.T) {
	mem := shared.NewMemory(nil)
	t.Cleanup(func() { mem.Close() })
	arrived := &sync.WaitGroup{}
	arrived.Add(2)
	h := New(readTogether{Memory: mem, arrived: arrived}, time.Minute, nil)
	ticket, err := h.Put("7", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	var taken atomic.Int64
	testenv.Concurrently(2, func(int) {
		if _, ok, err := h.Take("7", ticket); err == nil && ok {
			taken.Add(1)
		}
	})
	if n := taken.Load(); n != 1 {
		t.Errorf("%d of 2 simultaneous takes got the value, want exactly 1", n)
	}
}

func TestSharedStateHoldsNoPlaintext(t *testing.T) {
	h, mem, _ := newStore(t)
	secret := []byte("sk_live_do-not-store-me")
	ticket, err := h.Put("7", secret)
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := derive(ticket)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := mem.Get(valueKey("7", id))
	if err != nil || raw == nil {
		t.Fatalf("nothing stored under the ticket's key (%v)", err)
	}
	if bytes.Contains(raw, secret) || strings.Contains(valueKey("7", id), ticket) {
		t.Error("the shared state holds the value or the ticket in the clear")
	}
}
