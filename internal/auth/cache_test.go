package auth

import (
	"context"
	"errors"
	"fiberauth/internal/testenv"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fiberauth/internal/shared"
	"fiberauth/internal/store"
)

// These tests pin down what the caches must never do: accept a revoked, expired or
// changed credential, refuse a new one, or grow without bound. None of them waits
// on the wall clock: time moves by hand (Options.Now).

// spyStore counts the lookups the caches are meant to save, and can run a hook
// right after one returns (to change the data under a verification in flight).
type spyStore struct {
	store.Store
	keyLookups  atomic.Int64
	userLookups atomic.Int64

	mu        sync.Mutex
	afterKey  func()
	afterUser func()
}

func (s *spyStore) APIKeyByDigest(ctx context.Context, digest string) (store.APIKey, error) {
	s.keyLookups.Add(1)
	k, err := s.Store.APIKeyByDigest(ctx, digest)
	s.mu.Lock()
	hook := s.afterKey
	s.afterKey = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return k, err
}

func (s *spyStore) UserByUsername(ctx context.Context, username string) (store.User, error) {
	s.userLookups.Add(1)
	u, err := s.Store.UserByUsername(ctx, username)
	s.mu.Lock()
	hook := s.afterUser
	s.afterUser = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return u, err
}

// onceAfterKeyLookup runs fn right after the next key lookup returns.
func (s *spyStore) onceAfterKeyLookup(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterKey = fn
}

// onceAfterUserLookup runs fn right after the next user lookup returns.
func (s *spyStore) onceAfterUserLookup(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.afterUser = fn
}

type testService struct {
	*Service
	spy   *spyStore
	clock *testenv.Clock
}

// newTestService is a Service over a temp SQLite file with the demo data (seeded
// unless opts says otherwise), bcrypt cost 4 and a hand-moved clock.
func newCacheTestService(t *testing.T, seed bool, opts Options) testService {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	spy := &spyStore{Store: st}
	clock := testenv.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	opts.BcryptCost = 4
	opts.Now = clock.Now
	if opts.CredentialTTL == 0 {
		opts.CredentialTTL = DefaultCredentialTTL
	}
	if opts.Shared == nil {
		mem := shared.NewMemory(nil)
		t.Cleanup(func() { mem.Close() })
		opts.Shared = mem
	}
	svc, err := NewService(t.Context(), spy, opts)
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	if seed {
		if err := svc.SeedDemo(t.Context()); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	spy.keyLookups.Store(0) // count only what the test does
	spy.userLookups.Store(0)
	return testService{Service: svc, spy: spy, clock: clock}
}

func (s testService) mustVerifyKey(t *testing.T, key string) Principal {
	t.Helper()
	p, err := s.VerifyAPIKey(t.Context(), key)
	if err != nil {
		t.Fatalf("VerifyAPIKey: %v", err)
	}
	return p
}

func (s testService) mustRefuseKey(t *testing.T, key string) {
	t.Helper()
	if _, err := s.VerifyAPIKey(t.Context(), key); !errors.Is(err, ErrInvalidAPIKey) {
		t.Fatalf("VerifyAPIKey = %v, want ErrInvalidAPIKey", err)
	}
}

func (s testService) mustCreateKey(t *testing.T, username string, expiresIn time.Duration) NewAPIKey {
	t.Helper()
	u, err := s.UserPrincipalByName(t.Context(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	k, err := s.CreateAPIKey(t.Context(), u.UserID, "test", []string{"read"}, expiresIn)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k
}

func TestAPIKeyCache(t *testing.T) {
	t.Run("a repeated valid key is answered without the store", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		p := s.mustVerifyKey(t, "sk_test_123")
		before := s.spy.keyLookups.Load()
		again := s.mustVerifyKey(t, "sk_test_123")
		if got := s.spy.keyLookups.Load() - before; got != 0 {
			t.Errorf("second use looked the key up %d times, want 0", got)
		}
		if again.Username != "john" || again.KeyID != p.KeyID || !again.Can("write") || again.Method != MethodAPIKey {
			t.Errorf("cached principal = %+v, want john's key %d with write", again, p.KeyID)
		}
	})

	t.Run("a repeated unknown key is refused without the store", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		s.mustRefuseKey(t, "sk_live_nope")
		before := s.spy.keyLookups.Load()
		s.mustRefuseKey(t, "sk_live_nope")
		if got := s.spy.keyLookups.Load() - before; got != 0 {
			t.Errorf("second attempt looked the key up %d times, want 0", got)
		}
	})

	t.Run("a revoked key is refused on the very next use", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		k := s.mustCreateKey(t, "alice", 0)
		s.mustVerifyKey(t, k.Key)
		s.mustVerifyKey(t, k.Key) // now certainly cached
		if _, err := s.RevokeAPIKey(t.Context(), k.UserID, k.ID); err != nil {
			t.Fatal(err)
		}
		s.mustRefuseKey(t, k.Key)
	})

	t.Run("a revoke during a lookup is not undone by the lookup's answer", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		k := s.mustCreateKey(t, "alice", 0)
		// The lookup reads the key as active; the revoke lands before it is cached.
		s.spy.onceAfterKeyLookup(func() {
			if _, err := s.RevokeAPIKey(context.Background(), k.UserID, k.ID); err != nil {
				t.Error(err)
			}
		})
		s.mustVerifyKey(t, k.Key) // in flight before the revoke: may pass
		s.mustRefuseKey(t, k.Key)
	})

	t.Run("a cached key stops working at its expiry to the nanosecond", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{KeyCacheTTL: time.Hour})
		k := s.mustCreateKey(t, "alice", time.Minute)
		s.mustVerifyKey(t, k.Key)
		s.clock.Advance(time.Minute - time.Nanosecond)
		s.mustVerifyKey(t, k.Key)
		s.clock.Advance(time.Nanosecond)
		s.mustRefuseKey(t, k.Key)
	})

	t.Run("a key created after an attempt with its value works at once", func(t *testing.T) {
		s := newCacheTestService(t, false, Options{KeyCacheTTL: time.Hour})
		s.mustRefuseKey(t, "sk_test_123") // remembered as unknown
		if err := s.SeedDemo(t.Context()); err != nil {
			t.Fatal(err)
		}
		if p := s.mustVerifyKey(t, "sk_test_123"); p.Username != "john" {
			t.Errorf("got %s's key, want john's", p.Username)
		}
	})

	t.Run("entries end after the TTL", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{KeyCacheTTL: 5 * time.Second})
		s.mustVerifyKey(t, "sk_test_123")
		s.mustRefuseKey(t, "sk_live_nope")
		s.clock.Advance(5 * time.Second)
		before := s.spy.keyLookups.Load()
		s.mustVerifyKey(t, "sk_test_123")
		s.mustRefuseKey(t, "sk_live_nope")
		if got := s.spy.keyLookups.Load() - before; got != 2 {
			t.Errorf("after the TTL: %d lookups, want 2", got)
		}
	})

	t.Run("the cache holds at most its size of each kind", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{KeyCacheSize: 3})
		var keys []NewAPIKey
		for range 5 {
			keys = append(keys, s.mustCreateKey(t, "alice", 0))
		}
		for _, k := range keys {
			s.mustVerifyKey(t, k.Key)
		}
		for i := range 10 {
			s.mustRefuseKey(t, "sk_live_unknown_"+strconv.Itoa(i))
		}
		if valid, invalid := s.keys.len(); valid > 3 || invalid > 3 {
			t.Errorf("cache holds %d keys and %d unknown digests, want at most 3 each", valid, invalid)
		}
		for _, k := range keys { // evicted or not, every key still works
			s.mustVerifyKey(t, k.Key)
		}
	})

	t.Run("a disabled cache asks the store every time", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{KeyCacheTTL: -1})
		s.mustVerifyKey(t, "sk_test_123")
		before := s.spy.keyLookups.Load()
		s.mustVerifyKey(t, "sk_test_123")
		if got := s.spy.keyLookups.Load() - before; got != 1 {
			t.Errorf("%d lookups, want 1", got)
		}
	})
}

func TestKeyCacheInvalidationRaces(t *testing.T) {
	now := time.Now()
	d := digest{1}

	t.Run("a not-found read before a creation is not cached", func(t *testing.T) {
		c := newKeyCache(time.Minute, 10)
		_, found, epoch := c.get(d, now)
		if found != keyMiss {
			t.Fatalf("empty cache: %v, want a miss", found)
		}
		c.forgetDigest(d) // the key is created while the miss asks the store
		c.putInvalid(d, epoch, now)
		if _, found, _ := c.get(d, now); found != keyMiss {
			t.Errorf("after the creation: %v, want a miss", found)
		}
	})

	t.Run("an active read before a revoke is not cached", func(t *testing.T) {
		c := newKeyCache(time.Minute, 10)
		_, _, epoch := c.get(d, now)
		c.forgetID(7)
		c.put(d, store.APIKey{ID: 7, UserID: 1, Permissions: []string{"read"}}, epoch, now)
		if _, found, _ := c.get(d, now); found != keyMiss {
			t.Errorf("after the revoke: %v, want a miss", found)
		}
	})
}

func TestCredentialCache(t *testing.T) {
	t.Run("a repeated Basic credential costs one bcrypt", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		for range 3 {
			if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.spy.userLookups.Load(); got != 1 {
			t.Errorf("%d user lookups, want 1", got)
		}
		if !s.RecentlyVerified("john", "secret123") {
			t.Error("RecentlyVerified(right password) = false")
		}
		if s.RecentlyVerified("john", "secret124") {
			t.Error("RecentlyVerified(wrong password) = true")
		}
	})

	t.Run("the old password is refused right after a change", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		p, err := s.VerifyPassword(t.Context(), "john", "secret123")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChangePassword(t.Context(), p.UserID, "secret123", "a-new-password"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password: %v, want ErrInvalidCredentials", err)
		}
		if s.RecentlyVerified("john", "secret123") {
			t.Error("old password still counts as recently verified")
		}
		if _, err := s.VerifyPassword(t.Context(), "john", "a-new-password"); err != nil {
			t.Errorf("new password: %v", err)
		}
	})

	t.Run("a change during a verification is not undone by its answer", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		john, err := s.UserPrincipalByName(t.Context(), "john")
		if err != nil {
			t.Fatal(err)
		}
		// The verification reads the old hash; the change lands before bcrypt is done.
		s.spy.onceAfterUserLookup(func() {
			if _, err := s.ChangePassword(context.Background(), john.UserID, "secret123", "a-new-password"); err != nil {
				t.Error(err)
			}
		})
		if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); err != nil {
			t.Fatalf("in flight before the change: %v", err)
		}
		if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password after the change: %v, want ErrInvalidCredentials", err)
		}
	})

	t.Run("bcrypt runs again after the TTL", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{CredentialTTL: time.Minute})
		for _, step := range []time.Duration{0, time.Minute - time.Nanosecond, time.Nanosecond} {
			s.clock.Advance(step)
			if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.spy.userLookups.Load(); got != 2 {
			t.Errorf("%d user lookups, want 2 (first use, and after the TTL)", got)
		}
	})

	t.Run("a wrong password is never cached", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		for range 2 {
			if _, err := s.VerifyPassword(t.Context(), "john", "wrong-password"); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v", err)
			}
		}
		if got := s.spy.userLookups.Load(); got != 2 {
			t.Errorf("%d user lookups, want 2", got)
		}
	})

	t.Run("a login always checks the password", func(t *testing.T) {
		s := newCacheTestService(t, true, Options{})
		if _, err := s.VerifyPassword(t.Context(), "john", "secret123"); err != nil {
			t.Fatal(err)
		}
		before := s.spy.userLookups.Load()
		for range 2 {
			if _, err := s.Login(t.Context(), "john", "secret123", "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
		if got := s.spy.userLookups.Load() - before; got != 2 {
			t.Errorf("two logins: %d user lookups, want 2", got)
		}
	})

	t.Run("the cache holds at most its size", func(t *testing.T) {
		clock := testenv.NewClock(time.Now())
		c := newCredentialCache(time.Minute, clock.Now)
		c.size = 2
		for i := range 5 {
			k := c.mac("user"+strconv.Itoa(i), "password")
			c.Put(k, Principal{UserID: int64(i)})
		}
		if got := c.len(); got > 2 {
			t.Errorf("cache holds %d credentials, want at most 2", got)
		}
	})
}

// TestCachesAcrossInstances runs two Services on one database and one shared
// storage, as two instances on PostgreSQL and Redis do: a change made through one is
// seen by the other's caches on its very next use.
func TestCachesAcrossInstances(t *testing.T) {
	newInstances := func(t *testing.T) (a, b *Service, spyB *spyStore) {
		t.Helper()
		st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "shared.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		state := shared.NewMemory(nil)
		t.Cleanup(func() { state.Close() })
		clock := testenv.NewClock(time.Now())
		newInstance := func(st store.Store) *Service {
			svc, err := NewService(t.Context(), st, Options{BcryptCost: 4, CredentialTTL: time.Hour, KeyCacheTTL: time.Hour,
				Shared: state, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			if err := svc.SeedDemo(t.Context()); err != nil {
				t.Fatal(err)
			}
			return svc
		}
		spyB = &spyStore{Store: st}
		return newInstance(st), newInstance(spyB), spyB
	}

	t.Run("a key revoked on one is refused by the other at once", func(t *testing.T) {
		a, b, _ := newInstances(t)
		alice, err := a.UserPrincipalByName(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		k, err := a.CreateAPIKey(t.Context(), alice.UserID, "shared", []string{"read"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyAPIKey(t.Context(), k.Key); err != nil { // now cached on b
			t.Fatal(err)
		}
		if _, err := a.RevokeAPIKey(t.Context(), alice.UserID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyAPIKey(t.Context(), k.Key); !errors.Is(err, ErrInvalidAPIKey) {
			t.Errorf("on the other instance: %v, want ErrInvalidAPIKey", err)
		}
	})

	t.Run("a password changed on one is refused by the other at once", func(t *testing.T) {
		a, b, _ := newInstances(t)
		john, err := b.VerifyPassword(t.Context(), "John", "secret123") // cached on b, as typed
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ChangePassword(t.Context(), john.UserID, "secret123", "a-new-password"); err != nil {
			t.Fatal(err)
		}
		if b.RecentlyVerified("John", "secret123") {
			t.Error("the old password still counts as recently verified on the other instance")
		}
		if _, err := b.VerifyPassword(t.Context(), "John", "secret123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password on the other instance: %v, want ErrInvalidCredentials", err)
		}
		if _, err := b.VerifyPassword(t.Context(), "john", "a-new-password"); err != nil {
			t.Errorf("new password on the other instance: %v", err)
		}
	})

	t.Run("a change on the other during a verification is not undone by its answer", func(t *testing.T) {
		a, b, spyB := newInstances(t)
		john, err := a.UserPrincipalByName(t.Context(), "john")
		if err != nil {
			t.Fatal(err)
		}
		// b reads the old hash; a changes the password before b's bcrypt is done.
		spyB.onceAfterUserLookup(func() {
			if _, err := a.ChangePassword(context.Background(), john.UserID, "secret123", "a-new-password"); err != nil {
				t.Error(err)
			}
		})
		if _, err := b.VerifyPassword(t.Context(), "john", "secret123"); err != nil {
			t.Fatalf("in flight before the change: %v", err)
		}
		if _, err := b.VerifyPassword(t.Context(), "john", "secret123"); !errors.Is(err, ErrInvalidCredentials) {
			t.Errorf("old password after the change: %v, want ErrInvalidCredentials", err)
		}
	})

	t.Run("entries made after a change are trusted again", func(t *testing.T) {
		a, b, _ := newInstances(t)
		bob, err := a.UserPrincipalByName(t.Context(), "bob")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.ChangePassword(t.Context(), bob.UserID, "securepass", "a-new-password"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.VerifyPassword(t.Context(), "bob", "a-new-password"); err != nil {
			t.Fatal(err)
		}
		if !b.RecentlyVerified("bob", "a-new-password") {
			t.Error("a credential verified after the change is not cached")
		}
	})
}
