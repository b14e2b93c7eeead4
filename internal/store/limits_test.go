package store

import (
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"fiberauth/internal/apperr"
)

// A user holds at most MaxActiveKeysPerUser active keys, however many creations
// race: the count and the insert are one step.
func TestActiveKeysPerUserAreCapped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		alice := mustCreateUser(t, s, "alice", RoleUser)
		bob := mustCreateUser(t, s, "bob", RoleUser)
		const existing = MaxActiveKeysPerUser - 5
		for i := range existing {
			mustCreateKey(t, s, alice.ID, fmt.Sprintf("alice-%03d", i), nil, PermRead)
		}
		// Revoked and expired keys do not count.
		revoked := mustCreateKey(t, s, alice.ID, "alice-revoked", nil, PermRead)
		_, err := s.RevokeAPIKey(ctx, alice.ID, revoked.ID, time.Now())
		wantNoErr(t, err)
		mustCreateKey(t, s, alice.ID, "alice-expired", ptr(time.Now().Add(-time.Minute)), PermRead)

		t.Run("of 100 parallel creations at 95 active keys exactly 5 succeed", func(t *testing.T) {
			const tries = 100
			var (
				wg             sync.WaitGroup
				mu             sync.Mutex
				created, full  int
				unexpectedErrs []error
			)
			for i := range tries {
				wg.Go(func() {
					k := APIKey{UserID: alice.ID, Name: "racer", Prefix: "sk_live_r", Digest: fmt.Sprintf("race-%03d", i),
						Permissions: []string{PermRead}}
					err := s.CreateAPIKey(ctx, &k)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						created++
					case errors.Is(err, ErrTooManyKeys):
						full++
					default:
						unexpectedErrs = append(unexpectedErrs, err)
					}
				})
			}
			wg.Wait()
			if created != 5 || full != tries-5 || len(unexpectedErrs) > 0 {
				t.Fatalf("created %d, refused %d, other errors %v; want 5, %d, none", created, full, unexpectedErrs, tries-5)
			}
			users, err := s.ListUsers(ctx)
			wantNoErr(t, err)
			for _, u := range users {
				if u.ID == alice.ID && u.ActiveKeys != MaxActiveKeysPerUser {
					t.Errorf("alice has %d active keys, want %d", u.ActiveKeys, MaxActiveKeysPerUser)
				}
			}
		})

		t.Run("the cap is per user", func(t *testing.T) {
			mustCreateKey(t, s, bob.ID, "bob-1", nil, PermRead)
		})

		t.Run("revoking a key makes room for one", func(t *testing.T) {
			keys, err := s.ListAPIKeys(ctx, alice.ID)
			wantNoErr(t, err)
			k := APIKey{UserID: alice.ID, Name: "after", Prefix: "sk_live_a", Digest: "after-revoke", Permissions: []string{PermRead}}
			if err := s.CreateAPIKey(ctx, &k); !errors.Is(err, ErrTooManyKeys) {
				t.Fatalf("101st key: %v, want ErrTooManyKeys", err)
			}
			_, err = s.RevokeAPIKey(ctx, alice.ID, keys[0].ID, time.Now())
			wantNoErr(t, err)
			wantNoErr(t, s.CreateAPIKey(ctx, &k))
		})

		t.Run("a key for a user that does not exist is not found", func(t *testing.T) {
			k := APIKey{UserID: 999999, Name: "ghost", Prefix: "sk_live_g", Digest: "ghost", Permissions: []string{PermRead}}
			wantKind(t, s.CreateAPIKey(ctx, &k), apperr.KindNotFound)
		})
	})
}

// Audit events older than the retention are deleted, in as many batches as it
// takes; newer ones, and one exactly at the cut, stay.
func TestPruneAudit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		cut := time.Now().Add(-90 * 24 * time.Hour).UTC().Round(0)
		const old = 2*PruneBatch + 500 // three batches, the last one short
		insertAudit(t, s, old, cut.Add(-time.Hour), "old")
		insertAudit(t, s, 1, cut, "at the cut")
		insertAudit(t, s, 10, time.Now(), "new")

		n, err := s.PruneAudit(ctx, cut)
		wantNoErr(t, err)
		if n != old {
			t.Errorf("PruneAudit deleted %d, want %d", n, old)
		}
		events, err := s.ListAudit(ctx, "", 1000)
		wantNoErr(t, err)
		if len(events) != 11 {
			t.Fatalf("%d events left, want 11", len(events))
		}
		for _, e := range events {
			if e.Detail == "old" {
				t.Errorf("an old event is left: %+v", e)
			}
		}
		if n, err := s.PruneAudit(ctx, cut); err != nil || n != 0 {
			t.Errorf("pruning again: %d, %v; want 0, nil", n, err)
		}
	})
}

// insertAudit appends n events at the given time in one transaction (one by one,
// thousands of them would take seconds on PostgreSQL).
func insertAudit(t *testing.T, s Store, n int, at time.Time, detail string) {
	t.Helper()
	ss := s.(*sqlStore)
	err := ss.inTx(t.Context(), func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(t.Context(), ss.q(`
			INSERT INTO audit_events (at, actor, action, client_ip, outcome, detail) VALUES (?, 'mallory', 'login', '192.0.2.1', 'failure', ?)`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for range n {
			if _, err := stmt.ExecContext(t.Context(), at.UnixNano(), detail); err != nil {
				return err
			}
		}
		return nil
	})
	wantNoErr(t, err)
}
