package shared_test

import (
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"fiberauth/internal/shared"
	"fiberauth/internal/testenv"
)

// stores runs a test against every Store: memory, and Redis when TEST_REDIS_URL is set.
func stores(t *testing.T, test func(t *testing.T, s shared.Store)) {
	t.Helper()
	t.Run("memory", func(t *testing.T) {
		m := shared.NewMemory(nil)
		t.Cleanup(func() { m.Close() })
		test(t, m)
	})
	t.Run("redis", func(t *testing.T) {
		opts, err := goredis.ParseURL(testenv.RedisURL(t))
		if err != nil {
			t.Fatal(err)
		}
		r := shared.NewRedis(goredis.NewClient(opts), 2*time.Second)
		t.Cleanup(func() { r.Close() })
		test(t, r)
	})
}

func TestCountIsExactUnderConcurrency(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		const n = 200
		seen := make([]int64, 0, n)
		var mu sync.Mutex
		testenv.Concurrently(n, func(int) {
			c, left, err := s.Count("rate:x", time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			if left <= 0 || left > time.Minute {
				t.Errorf("window left %s, want within (0, 1m]", left)
			}
			mu.Lock()
			seen = append(seen, c)
			mu.Unlock()
		})
		slices.Sort(seen)
		for i, c := range seen {
			if c != int64(i+1) {
				t.Fatalf("counts %v: each of 1..%d exactly once", seen, n)
			}
		}
	})
}

func TestRaiseNeverGoesDown(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		testenv.Concurrently(100, func(i int) {
			if _, err := s.Raise("gen:1", int64(i), time.Minute); err != nil {
				t.Error(err)
			}
		})
		got, err := s.Raise("gen:1", 3, time.Minute)
		if err != nil || got != 99 {
			t.Fatalf("Raise after 0..99 = %d, %v; want 99", got, err)
		}
		raw, err := s.Get("gen:1")
		if err != nil || string(raw) != "99" {
			t.Fatalf("Get = %q, %v; want 99", raw, err)
		}
		vals, err := s.GetMany("gen:1", "absent")
		if err != nil || string(vals[0]) != "99" || vals[1] != nil {
			t.Fatalf("GetMany = %q, %v", vals, err)
		}
	})
}

// With Max 5 and every attempt failing, exactly 5 are ever admitted, however many
// ask at once and however often they ask again while busy.
func TestAttemptsAdmitNoMoreThanMaxFailures(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		var admitted, blocked atomic.Int64
		testenv.Concurrently(50, func(int) {
			a := shared.Attempt{Failures: "f:u", InFlight: "i:u", ID: rand.Text(), Max: 5,
				Window: time.Minute, Lease: 30 * time.Second}
			for {
				a.Now = time.Now()
				r, err := s.BeginAttempt(a)
				if err != nil {
					t.Error(err)
					return
				}
				switch r.Outcome {
				case shared.Admitted:
					admitted.Add(1)
					time.Sleep(time.Millisecond) // the password check
					if err := s.EndAttempt(a, true); err != nil {
						t.Error(err)
					}
					return
				case shared.Blocked:
					if r.RetryAfter <= 0 {
						t.Errorf("blocked with RetryAfter %s", r.RetryAfter)
					}
					blocked.Add(1)
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		if admitted.Load() != 5 || blocked.Load() != 45 {
			t.Fatalf("admitted %d, blocked %d; want 5 and 45", admitted.Load(), blocked.Load())
		}
		n, _, err := s.Failures(shared.Attempt{Failures: "f:u", Now: time.Now()})
		if err != nil || n != 5 {
			t.Fatalf("Failures = %d, %v; want 5", n, err)
		}
	})
}

// Attempts that succeed are never counted: any number of them get through.
func TestSuccessfulAttemptsNeverBlock(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		var admitted atomic.Int64
		testenv.Concurrently(50, func(int) {
			a := shared.Attempt{Failures: "f:ok", InFlight: "i:ok", ID: rand.Text(), Max: 5,
				Window: time.Minute, Lease: 30 * time.Second}
			for {
				a.Now = time.Now()
				r, err := s.BeginAttempt(a)
				if err != nil || r.Outcome == shared.Blocked {
					t.Errorf("BeginAttempt = %+v, %v", r, err)
					return
				}
				if r.Outcome == shared.Admitted {
					admitted.Add(1)
					if err := s.EndAttempt(a, false); err != nil {
						t.Error(err)
					}
					return
				}
				time.Sleep(time.Millisecond)
			}
		})
		if admitted.Load() != 50 {
			t.Fatalf("admitted %d of 50 correct attempts", admitted.Load())
		}
	})
}

// An attempt whose instance died mid-check frees its place when its lease ends.
func TestAttemptLeaseExpires(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		now := time.Now()
		a := shared.Attempt{Failures: "f:l", InFlight: "i:l", ID: "dead", Max: 1, Window: time.Minute,
			Lease: 50 * time.Millisecond, Now: now}
		if r, err := s.BeginAttempt(a); err != nil || r.Outcome != shared.Admitted {
			t.Fatalf("first = %+v, %v", r, err)
		}
		b := a
		b.ID = "next"
		if r, err := s.BeginAttempt(b); err != nil || r.Outcome != shared.Busy {
			t.Fatalf("while in flight = %+v, %v; want busy", r, err)
		}
		b.Now = now.Add(time.Second)
		if r, err := s.BeginAttempt(b); err != nil || r.Outcome != shared.Admitted {
			t.Fatalf("after the lease = %+v, %v; want admitted", r, err)
		}
	})
}

// The index is exact under concurrency: with a limit of 32 and 100 members added
// at once, 32 remain, the others' keys are deleted, and none is lost or doubled.
func TestIndexLimitIsExactUnderConcurrency(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		var mu sync.Mutex
		var evicted []string
		base := time.Now()
		testenv.Concurrently(100, func(i int) {
			id := "sess-" + rand.Text()
			if err := s.Set(id, []byte("data"), time.Minute); err != nil {
				t.Error(err)
				return
			}
			ev, err := s.AddToIndex("user-sessions:1", id, base.Add(time.Duration(i)*time.Millisecond), 32, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			evicted = append(evicted, ev...)
			mu.Unlock()
		})
		members, err := s.Index("user-sessions:1")
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 32 || len(evicted) != 68 {
			t.Fatalf("%d members, %d evicted; want 32 and 68", len(members), len(evicted))
		}
		for _, id := range evicted {
			if v, _ := s.Get(id); v != nil {
				t.Fatalf("evicted %s still has its data", id)
			}
			if slices.Contains(members, id) {
				t.Fatalf("evicted %s still indexed", id)
			}
		}
		if err := s.Delete(members[0]); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveFromIndex("user-sessions:1", members[1]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddToIndex("user-sessions:1", members[2], base.Add(time.Hour), 32, time.Minute); err != nil {
			t.Fatal(err)
		}
		after, _ := s.Index("user-sessions:1")
		if len(after) != 30 || slices.Contains(after, members[0]) || slices.Contains(after, members[1]) {
			t.Fatalf("after ending one and removing one: %d members %v", len(after), after)
		}
		if after[len(after)-1] != members[2] {
			t.Fatal("re-adding a member moves it to the newest place")
		}
	})
}

// Replace writes only a key that exists, so a deleted key stays deleted.
func TestReplaceNeverCreates(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		if ok, err := s.Replace("sess", []byte("late write"), time.Minute); err != nil || ok {
			t.Fatalf("Replace of a missing key = %v, %v", ok, err)
		}
		if v, _ := s.Get("sess"); v != nil {
			t.Fatalf("Replace created %q", v)
		}
		if err := s.Set("sess", []byte("v1"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.Replace("sess", []byte("v2"), time.Minute); err != nil || !ok {
			t.Fatalf("Replace of an existing key = %v, %v", ok, err)
		}
		if v, _ := s.Get("sess"); string(v) != "v2" {
			t.Fatalf("after Replace: %q", v)
		}
	})
}

func TestClaimAdmitsOneCallerUnderConcurrency(t *testing.T) {
	stores(t, func(t *testing.T, s shared.Store) {
		key := "claim:" + rand.Text()
		var won atomic.Int64
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				ok, err := s.Claim(key, time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			})
		}
		wg.Wait()
		if n := won.Load(); n != 1 {
			t.Fatalf("%d callers claimed one key, want exactly 1", n)
		}
		if ok, err := s.Claim(key, time.Minute); err != nil || ok {
			t.Fatalf("a claimed key was claimed again: %v, %v", ok, err)
		}
	})
}
