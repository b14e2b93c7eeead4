package store

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

func outboxRow(id string) OutboxMessage {
	return OutboxMessage{MessageID: id, To: "x@example.com", Subject: "s", Text: "t", HTML: "<p>t</p>"}
}

// Every email query on both databases: addresses, tokens (single use, voided by a
// newer one and by the generation), the reset requests and the outbox.
func TestMailStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		at := time.Now().UTC()
		u := User{Username: "carol", PasswordHash: "h", Role: RoleUser, Email: "Carol@example.org"}
		verify := EmailToken{Purpose: TokenVerify, Digest: "v1", Email: u.Email, ExpiresAt: at.Add(time.Hour)}
		wantNoErr(t, s.CreateUserWithEmail(ctx, &u, verify, outboxRow("m1@x")))
		dup := User{Username: "carol2", PasswordHash: "h", Role: RoleUser, Email: "CAROL@EXAMPLE.ORG"}
		if err := s.CreateUserWithEmail(ctx, &dup, EmailToken{Purpose: TokenVerify, Digest: "v2", Email: dup.Email,
			ExpiresAt: at.Add(time.Hour)}, outboxRow("m2@x")); !errors.Is(err, ErrEmailTaken) {
			t.Fatalf("taken address: %v", err)
		}
		if _, err := s.UserByUsername(ctx, "carol2"); err == nil {
			t.Fatal("a refused sign-up left its user")
		}
		got, err := s.UserByEmail(ctx, "carol@EXAMPLE.org")
		wantNoErr(t, err)
		if got.ID != u.ID || got.EmailVerifiedAt != nil {
			t.Fatalf("by email: %+v", got)
		}
		got, err = s.VerifyEmail(ctx, "v1", at)
		wantNoErr(t, err)
		if got.EmailVerifiedAt == nil {
			t.Fatal("not verified")
		}
		if _, err := s.VerifyEmail(ctx, "v1", at); !errors.Is(err, ErrTokenInvalid) {
			t.Fatalf("verify twice: %v", err)
		}
		wantNoErr(t, s.SetEmail(ctx, u.ID, EmailToken{Purpose: TokenVerify, Digest: "v3", Email: "new@example.org",
			ExpiresAt: at.Add(time.Hour)}, outboxRow("m3@x")))
		if got, _ := s.UserByID(ctx, u.ID); got.Email != "new@example.org" || got.EmailVerifiedAt != nil {
			t.Fatalf("after SetEmail: %+v", got)
		}

		reset := func(digest, msg string, userID int64) {
			t.Helper()
			wantNoErr(t, s.QueueReset(ctx, userID, EmailToken{Purpose: TokenReset, Digest: digest, Email: "new@example.org",
				ExpiresAt: at.Add(30 * time.Minute)}, outboxRow(msg)))
		}
		reset("r0", "m4@x", 0) // nobody: no row
		reset("r1", "m5@x", u.ID)
		reset("r2", "m6@x", u.ID) // voids r1
		if _, err := s.ResetTokenUser(ctx, "r1", at); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("an older token: %v", err)
		}
		if _, err := s.ResetTokenUser(ctx, "r0", at); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("nobody's token: %v", err)
		}
		if _, err := s.ResetTokenUser(ctx, "r2", at.Add(31*time.Minute)); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("an expired token: %v", err)
		}
		done, err := s.ResetPassword(ctx, "r2", "new-hash", at)
		wantNoErr(t, err)
		if done.PasswordHash != "new-hash" || done.AccessGeneration != u.AccessGeneration+1 {
			t.Fatalf("after reset: %+v", done)
		}
		if _, err := s.ResetPassword(ctx, "r2", "again", at); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("reset twice: %v", err)
		}
		reset("r3", "m7@x", u.ID)
		_, err = s.EndAccess(ctx, u.ID)
		wantNoErr(t, err)
		if _, err := s.ResetTokenUser(ctx, "r3", at); !errors.Is(err, ErrTokenInvalid) {
			t.Errorf("a token from before the access ended: %v", err)
		}

		wantNoErr(t, s.AddResetRequest(ctx, "alice", "1.2.3.4"))
		wantNoErr(t, s.AddResetRequest(ctx, "bob", "1.2.3.4"))
		reqs, err := s.TakeResetRequests(ctx, 10)
		wantNoErr(t, err)
		if len(reqs) != 2 {
			t.Fatalf("requests %+v", reqs)
		}
		if reqs, _ := s.TakeResetRequests(ctx, 10); len(reqs) != 0 {
			t.Fatalf("taken twice: %+v", reqs)
		}

		mail, err := s.ListMail(ctx, 100)
		wantNoErr(t, err)
		if len(mail) != 5 { // m1, m3, m5, m6, m7: none for nobody, none for the refused sign-up
			t.Fatalf("%d mails, want 5", len(mail))
		}
		claimed, err := s.ClaimMail(ctx, time.Now().Add(time.Second), time.Minute, 3, 2)
		wantNoErr(t, err)
		if len(claimed) != 2 {
			t.Fatalf("claimed %d, want 2", len(claimed))
		}
		again, _ := s.ClaimMail(ctx, time.Now().Add(time.Second), time.Minute, 3, 10)
		if len(again) != 3 {
			t.Fatalf("claimed %d more, want the 3 unleased", len(again))
		}
		wantNoErr(t, s.MarkMailSent(ctx, claimed[0].ID, at))
		n, err := s.MarkMailFailed(ctx, claimed[1].ID, at, "451 later")
		if err != nil || n != 1 {
			t.Fatalf("failed: %d %v", n, err)
		}
	})
}

// Of many resets with one token at once, exactly one wins, on both databases
// (PostgreSQL re-checks the conditional UPDATE's row after the winner commits).
func TestResetTokenSingleUseUnderConcurrency(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		at := time.Now().UTC()
		u := mustCreateUser(t, s, "dora", RoleUser)
		wantNoErr(t, s.QueueReset(ctx, u.ID, EmailToken{Purpose: TokenReset, Digest: "race", Email: "d@example.org",
			ExpiresAt: at.Add(time.Hour)}, outboxRow("race@x")))
		var wins, invalid atomic.Int32
		testenv.Concurrently(8, func(i int) {
			_, err := s.ResetPassword(context.Background(), "race", "hash", at)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrTokenInvalid):
				invalid.Add(1)
			default:
				t.Error(err)
			}
		})
		if wins.Load() != 1 || invalid.Load() != 7 {
			t.Fatalf("%d wins, %d refused; want 1 and 7", wins.Load(), invalid.Load())
		}
	})
}
