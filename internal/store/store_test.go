package store

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fiberauth/internal/apperr"
)

func TestUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		john := mustCreateUser(t, s, "John", RoleUser)

		t.Run("create sets the ID and times", func(t *testing.T) {
			if john.ID == 0 {
				t.Error("ID not set")
			}
			if d := time.Since(john.CreatedAt); d < 0 || d > time.Minute {
				t.Errorf("CreatedAt = %v, want about now", john.CreatedAt)
			}
			if !john.UpdatedAt.Equal(john.CreatedAt) || john.LastLoginAt != nil {
				t.Errorf("UpdatedAt = %v, LastLoginAt = %v", john.UpdatedAt, john.LastLoginAt)
			}
		})

		t.Run("found by username ignoring case", func(t *testing.T) {
			for _, name := range []string{"John", "john", "JOHN", "jOhN"} {
				got, err := s.UserByUsername(ctx, name)
				wantNoErr(t, err)
				if got.ID != john.ID || got.Username != "John" || got.PasswordHash != "hash:John" ||
					got.Role != RoleUser || !got.CreatedAt.Equal(john.CreatedAt) {
					t.Errorf("UserByUsername(%q) = %+v, want %+v", name, got, john)
				}
			}
		})

		t.Run("found by ID", func(t *testing.T) {
			got, err := s.UserByID(ctx, john.ID)
			wantNoErr(t, err)
			if got.Username != "John" {
				t.Errorf("UserByID = %+v", got)
			}
		})

		t.Run("username taken in another case is a conflict", func(t *testing.T) {
			for _, name := range []string{"John", "john", "JOHN"} {
				u := User{Username: name, PasswordHash: "x", Role: RoleUser}
				wantKind(t, s.CreateUser(ctx, &u), apperr.KindConflict)
			}
		})

		t.Run("unknown user is not found", func(t *testing.T) {
			_, err := s.UserByUsername(ctx, "nobody")
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.UserByID(ctx, 999999)
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.UpdatePasswordHash(ctx, 999999, "x")
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.EndAccess(ctx, 999999)
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.AccessGeneration(ctx, 999999)
			wantKind(t, err, apperr.KindNotFound)
			wantKind(t, s.RecordLogin(ctx, 999999, time.Now()), apperr.KindNotFound)
		})

		t.Run("role outside user and admin is refused", func(t *testing.T) {
			u := User{Username: "root", PasswordHash: "x", Role: "root"}
			if err := s.CreateUser(ctx, &u); err == nil {
				t.Fatal("CreateUser with role root succeeded")
			}
		})

		t.Run("password change and login are recorded", func(t *testing.T) {
			before, err := s.AccessGeneration(ctx, john.ID)
			wantNoErr(t, err)
			gen, err := s.UpdatePasswordHash(ctx, john.ID, "hash:new")
			wantNoErr(t, err)
			if gen != before+1 {
				t.Errorf("a password change moved the access generation from %d to %d, want %d", before, gen, before+1)
			}
			at := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("X", 3600))
			wantNoErr(t, s.RecordLogin(ctx, john.ID, at))
			got, err := s.UserByID(ctx, john.ID)
			wantNoErr(t, err)
			if got.PasswordHash != "hash:new" || got.UpdatedAt.Before(john.UpdatedAt) {
				t.Errorf("after UpdatePasswordHash: %+v", got)
			}
			if !sameTime(got.LastLoginAt, &at) || got.LastLoginAt.Location() != time.UTC {
				t.Errorf("LastLoginAt = %v, want %v in UTC", got.LastLoginAt, at)
			}
		})
	})
}

func TestUsernamesAreStoredVerbatim(t *testing.T) {
	tests := []struct{ name, username string }{
		{"SQL injection", "'; DROP TABLE users; --"},
		{"quotes", `O'Brien "the" \backslash`},
		{"LIKE wildcards", "100%_sure"},
		{"question mark placeholder", "who? me?"},
		{"unicode", "Zoë 🦫"},
		{"1000 characters", strings.Repeat("a", 1000)},
	}
	forEachBackend(t, func(t *testing.T, s Store) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				created := mustCreateUser(t, s, tt.username, RoleUser)
				got, err := s.UserByUsername(t.Context(), tt.username)
				wantNoErr(t, err)
				if got.ID != created.ID || got.Username != tt.username {
					t.Errorf("got %q (id %d), want %q (id %d)", got.Username, got.ID, tt.username, created.ID)
				}
			})
		}
		// The injection attempt did nothing: the table is still there.
		if _, err := s.ListUsers(t.Context()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestAPIKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		alice := mustCreateUser(t, s, "alice", RoleUser)
		admin := mustCreateUser(t, s, "admin", RoleAdmin)
		expires := time.Now().Add(time.Hour).UTC()
		k1 := mustCreateKey(t, s, alice.ID, "d1", &expires, PermRead, PermWrite)
		k2 := mustCreateKey(t, s, admin.ID, "d2", nil, PermRead)
		k3 := mustCreateKey(t, s, alice.ID, "d3", nil)

		t.Run("found by digest with its owner", func(t *testing.T) {
			got, err := s.APIKeyByDigest(ctx, "d1")
			wantNoErr(t, err)
			if got.ID != k1.ID || got.UserID != alice.ID || got.Username != "alice" || got.UserRole != RoleUser ||
				got.Name != "key d1" || got.Prefix != "sk_d1" || got.Digest != "d1" ||
				!slices.Equal(got.Permissions, []string{PermRead, PermWrite}) ||
				!got.CreatedAt.Equal(k1.CreatedAt) || !sameTime(got.ExpiresAt, &expires) ||
				got.LastUsedAt != nil || got.RevokedAt != nil {
				t.Errorf("APIKeyByDigest = %+v, want %+v", got, k1)
			}
			got, err = s.APIKeyByDigest(ctx, "d3")
			wantNoErr(t, err)
			if got.Permissions == nil || len(got.Permissions) != 0 {
				t.Errorf("no permissions read back as %#v, want empty", got.Permissions)
			}
		})

		t.Run("unknown digest is not found", func(t *testing.T) {
			_, err := s.APIKeyByDigest(ctx, "nope")
			wantKind(t, err, apperr.KindNotFound)
		})

		t.Run("bad create is refused", func(t *testing.T) {
			tests := []struct {
				name string
				key  APIKey
				want apperr.Kind
			}{
				{"duplicate digest", APIKey{UserID: alice.ID, Digest: "d1"}, apperr.KindConflict},
				{"unknown owner", APIKey{UserID: 999999, Digest: "d9"}, apperr.KindNotFound},
				{"comma in a permission", APIKey{UserID: alice.ID, Digest: "d8", Permissions: []string{"read,admin"}}, apperr.KindValidation},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					wantKind(t, s.CreateAPIKey(ctx, &tt.key), tt.want)
				})
			}
		})

		t.Run("listed newest first", func(t *testing.T) {
			tests := []struct {
				name   string
				userID int64
				want   []int64
			}{
				{"one user's", alice.ID, []int64{k3.ID, k1.ID}},
				{"everyone's", 0, []int64{k3.ID, k2.ID, k1.ID}},
				{"a user without keys", 999999, nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					keys, err := s.ListAPIKeys(ctx, tt.userID)
					wantNoErr(t, err)
					var ids []int64
					for _, k := range keys {
						ids = append(ids, k.ID)
						if k.Username == "" {
							t.Errorf("key %d has no owner name", k.ID)
						}
					}
					if !slices.Equal(ids, tt.want) {
						t.Errorf("IDs = %v, want %v", ids, tt.want)
					}
				})
			}
		})
	})
}

func TestRevokeAPIKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		alice := mustCreateUser(t, s, "alice", RoleUser)
		bob := mustCreateUser(t, s, "bob", RoleUser)
		aliceKey := mustCreateKey(t, s, alice.ID, "da", nil, PermRead)
		bobKey := mustCreateKey(t, s, bob.ID, "db", nil, PermRead)
		first := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

		t.Run("another user's key is not found and stays active", func(t *testing.T) {
			_, err := s.RevokeAPIKey(ctx, alice.ID, bobKey.ID, first)
			wantKind(t, err, apperr.KindNotFound)
			got, err := s.APIKeyByDigest(ctx, "db")
			wantNoErr(t, err)
			if got.RevokedAt != nil {
				t.Errorf("bob's key was revoked at %v", got.RevokedAt)
			}
		})

		t.Run("a missing key is not found", func(t *testing.T) {
			_, err := s.RevokeAPIKey(ctx, alice.ID, 999999, first)
			wantKind(t, err, apperr.KindNotFound)
			_, err = s.RevokeAPIKey(ctx, 0, 999999, first)
			wantKind(t, err, apperr.KindNotFound)
		})

		t.Run("own key is revoked, and again is fine", func(t *testing.T) {
			for i, at := range []time.Time{first, first.Add(time.Hour)} {
				got, err := s.RevokeAPIKey(ctx, alice.ID, aliceKey.ID, at)
				wantNoErr(t, err)
				if got.ID != aliceKey.ID || got.Username != "alice" || !sameTime(got.RevokedAt, &first) {
					t.Errorf("revocation %d returned %+v, want revoked at %v", i+1, got, first)
				}
			}
			got, err := s.APIKeyByDigest(ctx, "da")
			wantNoErr(t, err)
			if !sameTime(got.RevokedAt, &first) {
				t.Errorf("stored RevokedAt = %v, want %v", got.RevokedAt, first)
			}
		})

		t.Run("userID 0 revokes anyone's key", func(t *testing.T) {
			got, err := s.RevokeAPIKey(ctx, 0, bobKey.ID, first)
			wantNoErr(t, err)
			if got.RevokedAt == nil {
				t.Error("not revoked")
			}
		})
	})
}

func TestTouchAPIKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		u := mustCreateUser(t, s, "alice", RoleUser)
		k1 := mustCreateKey(t, s, u.ID, "d1", nil, PermRead)
		k2 := mustCreateKey(t, s, u.ID, "d2", nil, PermRead)
		t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)

		tests := []struct {
			name  string
			touch map[int64]time.Time
			want1 *time.Time
			want2 *time.Time
		}{
			{"nothing to touch", nil, nil, nil},
			{"first use is recorded", map[int64]time.Time{k1.ID: t0}, &t0, nil},
			{"an earlier time does not move it back", map[int64]time.Time{k1.ID: t0.Add(-time.Minute)}, &t0, nil},
			{"several keys at once, later times win", map[int64]time.Time{k1.ID: t0.Add(time.Second), k2.ID: t0},
				ptr(t0.Add(time.Second)), &t0},
			{"an unknown key is ignored", map[int64]time.Time{999999: t0}, ptr(t0.Add(time.Second)), &t0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantNoErr(t, s.TouchAPIKeys(ctx, tt.touch))
				for digest, want := range map[string]*time.Time{"d1": tt.want1, "d2": tt.want2} {
					got, err := s.APIKeyByDigest(ctx, digest)
					wantNoErr(t, err)
					if !sameTime(got.LastUsedAt, want) {
						t.Errorf("%s LastUsedAt = %v, want %v", digest, got.LastUsedAt, want)
					}
				}
			})
		}
	})
}

func TestListUsersCountsActiveKeys(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		bob := mustCreateUser(t, s, "bob", RoleUser)
		alice := mustCreateUser(t, s, "Alice", RoleAdmin)
		mustCreateUser(t, s, "carol", RoleUser)
		past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		mustCreateKey(t, s, bob.ID, "active", nil, PermRead)
		mustCreateKey(t, s, bob.ID, "expires later", &future, PermRead)
		mustCreateKey(t, s, bob.ID, "expired", &past, PermRead)
		revoked := mustCreateKey(t, s, bob.ID, "revoked", nil, PermRead)
		mustCreateKey(t, s, alice.ID, "alice's", nil, PermRead)
		_, err := s.RevokeAPIKey(ctx, bob.ID, revoked.ID, time.Now())
		wantNoErr(t, err)

		users, err := s.ListUsers(ctx)
		wantNoErr(t, err)
		var got []string
		for _, u := range users {
			got = append(got, fmt.Sprintf("%s:%s:%d", u.Username, u.Role, u.ActiveKeys))
		}
		want := []string{"Alice:admin:1", "bob:user:2", "carol:user:0"}
		if !slices.Equal(got, want) {
			t.Errorf("ListUsers = %v, want %v", got, want)
		}
	})
}

func TestAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		events := []AuditEvent{
			{At: t0, Actor: "john", Action: "login", ClientIP: "10.0.0.1", Outcome: "success", Detail: "basic"},
			{At: t0.Add(2 * time.Second), Actor: "alice", Action: "login", ClientIP: "::1", Outcome: "failure"},
			{At: t0.Add(time.Second), Actor: "john", Action: "key.create", ClientIP: "10.0.0.1", Outcome: "success"},
			{At: t0.Add(3 * time.Second), Actor: "", Action: "login", ClientIP: "10.0.0.9", Outcome: "failure", Detail: "unknown user"},
		}
		for _, e := range events {
			wantNoErr(t, s.AppendAudit(ctx, e))
		}

		tests := []struct {
			name  string
			actor string
			limit int
			want  []string // actions, newest first
		}{
			{"everyone's, newest first", "", 10, []string{"login/", "login/alice", "key.create/john", "login/john"}},
			{"one actor's", "john", 10, []string{"key.create/john", "login/john"}},
			{"an unknown actor has none", "nobody", 10, nil},
			{"limit", "", 2, []string{"login/", "login/alice"}},
			{"limit below 1 is 1", "", 0, []string{"login/"}},
			{"limit above 1000 is 1000", "", 5000, []string{"login/", "login/alice", "key.create/john", "login/john"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.ListAudit(ctx, tt.actor, tt.limit)
				wantNoErr(t, err)
				var actions []string
				for _, e := range got {
					actions = append(actions, e.Action+"/"+e.Actor)
				}
				if !slices.Equal(actions, tt.want) {
					t.Errorf("ListAudit = %v, want %v", actions, tt.want)
				}
			})
		}

		t.Run("fields round-trip", func(t *testing.T) {
			got, err := s.ListAudit(ctx, "john", 10)
			wantNoErr(t, err)
			want := events[0]
			last := got[len(got)-1]
			if last.ID == 0 || !last.At.Equal(want.At) || last.ClientIP != want.ClientIP ||
				last.Outcome != want.Outcome || last.Detail != want.Detail {
				t.Errorf("got %+v, want %+v", last, want)
			}
		})

		t.Run("a zero time means now", func(t *testing.T) {
			wantNoErr(t, s.AppendAudit(ctx, AuditEvent{Actor: "zed", Action: "logout", Outcome: "success"}))
			got, err := s.ListAudit(ctx, "zed", 1)
			wantNoErr(t, err)
			if len(got) != 1 || time.Since(got[0].At) > time.Minute {
				t.Errorf("got %+v", got)
			}
		})
	})
}

func TestConcurrentWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		owner := mustCreateUser(t, s, "owner", RoleUser)
		key := mustCreateKey(t, s, owner.ID, "dk", nil, PermRead)
		const workers, perWorker = 20, 10

		var wg sync.WaitGroup
		errs := make(chan error, workers*(perWorker+3))
		for w := range workers {
			wg.Go(func() {
				for i := range perWorker {
					errs <- s.AppendAudit(ctx, AuditEvent{Actor: fmt.Sprintf("w%d", w), Action: fmt.Sprint(i), Outcome: "success"})
				}
				u := User{Username: fmt.Sprintf("user%d", w), PasswordHash: "x", Role: RoleUser}
				errs <- s.CreateUser(ctx, &u)
				errs <- s.TouchAPIKeys(ctx, map[int64]time.Time{key.ID: time.Now()})
				_, err := s.ListAudit(ctx, "", 5) // readers run alongside the writers
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent write failed: %v", err)
			}
		}
		events, err := s.ListAudit(ctx, "", 1000)
		wantNoErr(t, err)
		if len(events) != workers*perWorker {
			t.Errorf("%d audit events, want %d", len(events), workers*perWorker)
		}
		users, err := s.ListUsers(ctx)
		wantNoErr(t, err)
		if len(users) != workers+1 {
			t.Errorf("%d users, want %d", len(users), workers+1)
		}
	})
}

func TestDataSurvivesReopen(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, databaseURL string) {
		ctx := t.Context()
		s, err := Open(ctx, databaseURL)
		wantNoErr(t, err)
		u := User{Username: "john", PasswordHash: "hash:secret123", Role: RoleUser}
		wantNoErr(t, s.CreateUser(ctx, &u))
		k := APIKey{UserID: u.ID, Name: "k", Prefix: "sk_test_1", Digest: "d", Permissions: []string{PermRead}}
		wantNoErr(t, s.CreateAPIKey(ctx, &k))
		wantNoErr(t, s.AppendAudit(ctx, AuditEvent{Actor: "john", Action: "login", Outcome: "success"}))
		wantNoErr(t, s.Close())

		s = openTestStore(t, databaseURL)
		gotUser, err := s.UserByUsername(ctx, "john")
		wantNoErr(t, err)
		if gotUser.ID != u.ID || !gotUser.CreatedAt.Equal(u.CreatedAt) {
			t.Errorf("user after reopen = %+v, want %+v", gotUser, u)
		}
		gotKey, err := s.APIKeyByDigest(ctx, "d")
		wantNoErr(t, err)
		if gotKey.ID != k.ID || gotKey.Username != "john" {
			t.Errorf("key after reopen = %+v", gotKey)
		}
		events, err := s.ListAudit(ctx, "john", 10)
		wantNoErr(t, err)
		if len(events) != 1 {
			t.Errorf("%d audit events after reopen, want 1", len(events))
		}
	})
}

func TestMigrationsAreIdempotent(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, databaseURL string) {
		for i := range 3 {
			s, err := Open(t.Context(), databaseURL)
			if err != nil {
				t.Fatalf("Open #%d: %v", i+1, err)
			}
			wantNoErr(t, s.Ping(t.Context()))
			wantNoErr(t, s.Close())
		}
	})
}

// Several instances (or the server and the admin CLI) may start at once on a new
// database: each must find the schema migrated, none may fail.
func TestConcurrentOpenOfNewDatabase(t *testing.T) {
	forEachBackendURL(t, func(t *testing.T, databaseURL string) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				s, err := Open(t.Context(), databaseURL)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			wantNoErr(t, err)
		}
	})
}

func TestUpgradePasswordHash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		u := mustCreateUser(t, s, "uma", RoleUser) // hash "hash:uma"
		ok, err := s.UpgradePasswordHash(t.Context(), u.ID, "hash:uma", "stronger")
		if err != nil || !ok {
			t.Fatalf("upgrade of the current hash: %v %v", ok, err)
		}
		// A password change lands; an upgrade computed from the old hash must not undo it.
		_, err = s.UpdatePasswordHash(t.Context(), u.ID, "changed")
		wantNoErr(t, err)
		ok, err = s.UpgradePasswordHash(t.Context(), u.ID, "stronger", "stale")
		if err != nil || ok {
			t.Fatalf("upgrade of a replaced hash: %v %v", ok, err)
		}
		got, _ := s.UserByID(t.Context(), u.ID)
		if got.PasswordHash != "changed" {
			t.Errorf("hash = %q, want the changed one", got.PasswordHash)
		}
	})
}

// Every ending of access moves the generation on by one, exactly, under
// concurrency, and the key rows carry their owner's current generation.
func TestAccessGeneration(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		u := mustCreateUser(t, s, "gene", RoleUser)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.EndAccess(t.Context(), u.ID); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		gen, err := s.AccessGeneration(t.Context(), u.ID)
		if err != nil || gen != 20 {
			t.Fatalf("after 20 ends: %d, %v", gen, err)
		}
		byName, _ := s.UserByUsername(t.Context(), "gene")
		if byName.AccessGeneration != 20 {
			t.Errorf("UserByUsername says generation %d, want 20", byName.AccessGeneration)
		}
		k := APIKey{UserID: u.ID, Name: "k", Prefix: "sk_live_x", Digest: "d-gene", Permissions: []string{"read"}}
		wantNoErr(t, s.CreateAPIKey(t.Context(), &k))
		got, err := s.APIKeyByDigest(t.Context(), "d-gene")
		if err != nil || got.UserGeneration != 20 {
			t.Errorf("key row says owner generation %d, %v; want 20", got.UserGeneration, err)
		}
	})
}

// A secret is made once and every caller, racing or later, reads the same one.
func TestSecretIsSharedByEveryCaller(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := s.Secret(t.Context(), "csrf", 32)
				if err != nil || len(v) != 32 {
					t.Errorf("Secret = %d bytes, %v", len(v), err)
					return
				}
				mu.Lock()
				seen[string(v)] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(seen) != 1 {
			t.Fatalf("%d different secrets for one name", len(seen))
		}
		other, _ := s.Secret(t.Context(), "other", 32)
		if seen[string(other)] {
			t.Fatal("two names share a secret")
		}
	})
}
