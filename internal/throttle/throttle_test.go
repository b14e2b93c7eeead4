package throttle

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiberauth/internal/shared"
	"fiberauth/internal/testenv"
)

func newTestThrottle(t *testing.T, max int, window time.Duration) (*Throttle, *testenv.Clock) {
	t.Helper()
	clock := testenv.NewClock(time.Now())
	store := shared.NewMemory(clock.Now)
	t.Cleanup(func() { store.Close() })
	return New(store, max, window, clock.Now), clock
}

func refusal(t *testing.T, err error) *Refused {
	t.Helper()
	var r *Refused
	if !errors.As(err, &r) {
		t.Fatalf("err = %v, want *Refused", err)
	}
	return r
}

func TestThrottle(t *testing.T) {
	t.Run("max failures, then refused until the window ends", func(t *testing.T) {
		th, clock := newTestThrottle(t, 5, 15*time.Minute)
		for range 5 {
			a, err := th.Begin(t.Context(), "alice|1.2.3.4")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.End(true); err != nil {
				t.Fatal(err)
			}
		}
		clock.Advance(time.Minute)
		_, err := th.Begin(t.Context(), "alice|1.2.3.4")
		if r := refusal(t, err); r.Busy || r.RetryAfter != 14*time.Minute {
			t.Fatalf("refused %+v, want blocked for 14m", r)
		}
		if err := th.Check("alice|1.2.3.4"); err == nil {
			t.Fatal("Check passes a blocked subject")
		}
		if _, err := th.Begin(t.Context(), "alice|5.6.7.8"); err != nil {
			t.Fatalf("another client of the same user: %v", err)
		}
		clock.Advance(14 * time.Minute)
		if _, err := th.Begin(t.Context(), "alice|1.2.3.4"); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})

	t.Run("successes leave no trace", func(t *testing.T) {
		th, _ := newTestThrottle(t, 2, time.Minute)
		for range 20 {
			a, err := th.Begin(t.Context(), "bob|ip")
			if err != nil {
				t.Fatal(err)
			}
			if err := a.End(false); err != nil {
				t.Fatal(err)
			}
		}
		if err := th.Check("bob|ip"); err != nil {
			t.Fatalf("after 20 successes: %v", err)
		}
	})

	t.Run("an attempt that finds every place taken waits for them, then goes on", func(t *testing.T) {
		th, _ := newTestThrottle(t, 1, time.Minute)
		first, err := th.Begin(t.Context(), "carol|ip")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			a, err := th.Begin(t.Context(), "carol|ip")
			if err == nil {
				err = a.End(false)
			}
			done <- err
		}()
		select {
		case err := <-done:
			t.Fatalf("second attempt did not wait for the first: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
		if err := first.End(false); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("second attempt after the first succeeded: %v", err)
		}
	})

	t.Run("an attempt waits only so long", func(t *testing.T) {
		th, _ := newTestThrottle(t, 1, time.Minute)
		th.wait = 30 * time.Millisecond
		if _, err := th.Begin(t.Context(), "dave|ip"); err != nil {
			t.Fatal(err)
		}
		_, err := th.Begin(t.Context(), "dave|ip")
		if r := refusal(t, err); !r.Busy {
			t.Fatalf("refused %+v, want busy", r)
		}
	})

	t.Run("a long subject leaves keys of one small size", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		a := th.attempt(string(make([]byte, 1<<20)))
		if len(a.Failures) > 64 || len(a.InFlight) > 64 {
			t.Fatalf("keys of %d and %d bytes for a 1 MB subject", len(a.Failures), len(a.InFlight))
		}
	})
}

// 50 parallel correct attempts all get through; 50 parallel wrong ones get exactly
// Max checks.
func TestThrottleUnderConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fail         bool
		wantAdmitted int64
	}{
		{"correct attempts are never refused", false, 50},
		{"wrong attempts get exactly max checks", true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th, _ := newTestThrottle(t, 5, time.Minute)
			var admitted atomic.Int64
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					a, err := th.Begin(context.Background(), "erin|ip")
					if err != nil {
						if r := refusal(t, err); r.Busy {
							t.Errorf("busy: %+v", r)
						}
						return
					}
					admitted.Add(1)
					time.Sleep(2 * time.Millisecond) // the password check
					if err := a.End(tc.fail); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if admitted.Load() != tc.wantAdmitted {
				t.Fatalf("admitted %d, want %d", admitted.Load(), tc.wantAdmitted)
			}
		})
	}
}
