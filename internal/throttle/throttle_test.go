package throttle

import (
	"fiberauth/internal/testenv"
	"testing"
	"time"

	"github.com/gofiber/storage/memory/v2"
)

func newTestThrottle(t *testing.T, max int, window time.Duration) (*Throttle, *testenv.Clock) {
	t.Helper()
	storage := memory.New()
	t.Cleanup(func() { storage.Close() })
	clock := testenv.NewClock(time.Now())
	return New(storage, max, window, clock.Now), clock
}

func mustReserve(t *testing.T, th *Throttle, key string, want bool) time.Duration {
	t.Helper()
	ok, retry, err := th.reserve(key)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("Reserve(%q) = %v, want %v", key, ok, want)
	}
	return retry
}

func mustBlocked(t *testing.T, th *Throttle, key string, want bool) {
	t.Helper()
	blocked, _, err := th.blocked(key)
	if err != nil {
		t.Fatal(err)
	}
	if blocked != want {
		t.Fatalf("Blocked(%q) = %v, want %v", key, blocked, want)
	}
}

func TestThrottle(t *testing.T) {
	t.Run("max failures then refused until the window ends", func(t *testing.T) {
		th, clock := newTestThrottle(t, 5, 15*time.Minute)
		for range 5 {
			mustReserve(t, th, "k", true) // each fails: never released
		}
		clock.Advance(time.Minute)
		if retry := mustReserve(t, th, "k", false); retry != 14*time.Minute {
			t.Errorf("retry after %v, want 14m", retry)
		}
		mustBlocked(t, th, "k", true)
		clock.Advance(14*time.Minute - time.Nanosecond)
		mustBlocked(t, th, "k", true)
		clock.Advance(time.Nanosecond)
		mustBlocked(t, th, "k", false)
		mustReserve(t, th, "k", true)
	})

	t.Run("successes are given back, however many run at once", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		for range 100 {
			mustReserve(t, th, "k", true)
			if err := th.release("k"); err != nil {
				t.Fatal(err)
			}
		}
		mustBlocked(t, th, "k", false)
	})

	t.Run("at most max attempts are in flight before any answer", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		for range 5 {
			mustReserve(t, th, "k", true)
		}
		mustReserve(t, th, "k", false)
	})

	t.Run("a refused attempt is not counted", func(t *testing.T) {
		th, _ := newTestThrottle(t, 2, time.Minute)
		mustReserve(t, th, "k", true)
		mustReserve(t, th, "k", true)
		for range 10 {
			mustReserve(t, th, "k", false)
		}
		if err := th.release("k"); err != nil { // one of the two succeeded after all
			t.Fatal(err)
		}
		mustBlocked(t, th, "k", false)
		mustReserve(t, th, "k", true)
	})

	t.Run("keys are counted apart", func(t *testing.T) {
		th, _ := newTestThrottle(t, 1, time.Minute)
		mustReserve(t, th, "john|10.0.0.1", true)
		mustReserve(t, th, "john|10.0.0.1", false)
		mustReserve(t, th, "john|10.0.0.2", true)
		mustReserve(t, th, "bob|10.0.0.1", true)
	})
}

func mustBegin(t *testing.T, th *Throttle, key, credential string, want bool) Attempt {
	t.Helper()
	a, ok, _, err := th.Begin(key, credential)
	if err != nil {
		t.Fatal(err)
	}
	if ok != want {
		t.Fatalf("Begin(%q, %q) = %v, want %v", key, credential, ok, want)
	}
	return a
}

func attempts(t *testing.T, th *Throttle, key string) int64 {
	t.Helper()
	c, err := th.load(key, th.now())
	if err != nil {
		t.Fatal(err)
	}
	return c.attempts
}

func TestThrottleAttempts(t *testing.T) {
	t.Run("repeats of a credential in flight share one attempt", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		first := mustBegin(t, th, "k", "cred", true)
		var repeats []Attempt
		for range 20 {
			repeats = append(repeats, mustBegin(t, th, "k", "cred", true))
		}
		if got := attempts(t, th, "k"); got != 1 {
			t.Errorf("%d attempts taken, want 1", got)
		}
		first.End(false)
		for _, a := range repeats {
			a.End(false)
		}
		if got := attempts(t, th, "k"); got != 1 {
			t.Errorf("after all failed: %d attempts, want 1", got)
		}
	})

	t.Run("a wrong password repeated one request after another is blocked", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		for range 5 {
			mustBegin(t, th, "k", "cred", true).End(false)
		}
		mustBegin(t, th, "k", "cred", false)
	})

	t.Run("a repeat that starts after the first ended takes its own attempt", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		first := mustBegin(t, th, "k", "cred", true)
		shared := mustBegin(t, th, "k", "cred", true)
		first.End(false)
		late := mustBegin(t, th, "k", "cred", true)
		if got := attempts(t, th, "k"); got != 2 {
			t.Errorf("%d attempts taken, want 2", got)
		}
		shared.End(false)
		late.End(false)
	})

	t.Run("different credentials each take an attempt", func(t *testing.T) {
		th, _ := newTestThrottle(t, 5, time.Minute)
		for i := range 5 {
			mustBegin(t, th, "k", string(rune('a'+i)), true)
		}
		mustBegin(t, th, "k", "f", false)
	})

	t.Run("without a credential digest every request takes an attempt", func(t *testing.T) {
		th, _ := newTestThrottle(t, 2, time.Minute)
		mustBegin(t, th, "k", "", true)
		mustBegin(t, th, "k", "", true)
		mustBegin(t, th, "k", "", false)
	})

	t.Run("a success gives its attempt back", func(t *testing.T) {
		th, _ := newTestThrottle(t, 1, time.Minute)
		for range 10 {
			if err := mustBegin(t, th, "k", "cred", true).End(true); err != nil {
				t.Fatal(err)
			}
		}
		if got := attempts(t, th, "k"); got != 0 {
			t.Errorf("%d attempts taken, want 0", got)
		}
	})

	t.Run("a known credential takes nothing but is refused while blocked", func(t *testing.T) {
		th, _ := newTestThrottle(t, 2, time.Minute)
		for range 10 {
			if ok, _, err := th.Known("k"); err != nil || !ok {
				t.Fatalf("Known = %v, %v; want allowed", ok, err)
			}
		}
		mustBegin(t, th, "k", "a", true).End(false)
		mustBegin(t, th, "k", "b", true).End(false)
		if ok, retry, err := th.Known("k"); err != nil || ok || retry <= 0 {
			t.Errorf("Known on a blocked key = %v, %v, %v; want refused with a retry time", ok, retry, err)
		}
	})
}
