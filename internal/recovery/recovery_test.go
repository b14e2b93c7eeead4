package recovery_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/auth"
	"fiberauth/internal/mail"
	"fiberauth/internal/recovery"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
	"fiberauth/views"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"alice@example.com", "alice@example.com", true},
		{"  Alice.Smith@EXAMPLE.Com ", "Alice.Smith@example.com", true},
		{"a+tag@sub.example.org", "a+tag@sub.example.org", true},
		{"Alice <alice@example.com>", "", false},
		{"alice@example.com (work)", "", false},
		{"alice", "", false},
		{"@example.com", "", false},
		{"alice@localhost", "", false},
		{"alice@example.com.", "", false},
		{"alice@exa mple.com", "", false},
		{"a@b.c\r\nBcc: x@y.z", "", false},
		{"", "", false},
		{string(make([]byte, 300)), "", false},
		{"\xff@example.com", "", false},
	} {
		got, err := recovery.NormalizeEmail(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func newRecovery(tb testing.TB) (*recovery.Service, store.Store) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(tb.TempDir(), "r.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	mem := shared.NewMemory(nil)
	tb.Cleanup(func() { mem.Close() })
	svc, err := auth.NewService(ctx, st, auth.Options{BcryptCost: 4, Shared: mem})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { svc.Close() })
	if err := svc.SeedDemo(ctx); err != nil {
		tb.Fatal(err)
	}
	tpl, err := mail.LoadTemplates(views.FS)
	if err != nil {
		tb.Fatal(err)
	}
	return recovery.New(recovery.Options{Store: st, Auth: svc, Templates: tpl, PublicURL: "http://localhost:3000"}), st
}

// The work of a reset request is the same for a known account and for nobody:
// the benchmark runs them interleaved and reports each one's time and their ratio,
// which should be 1 within noise (the README quotes a run). A timed test would be
// flaky on a shared machine; a benchmark is read by a person.
func BenchmarkRequestResetKnownVersusUnknown(b *testing.B) {
	rec, _ := newRecovery(b)
	ctx := context.Background()
	logins := [2]string{"alice@example.com", "nobody@example.com"}
	var spent [2]time.Duration
	b.ResetTimer()
	for i := range b.N {
		which := i % 2
		start := time.Now()
		if err := rec.RequestReset(ctx, logins[which], "127.0.0.1"); err != nil {
			b.Fatal(err)
		}
		spent[which] += time.Since(start)
	}
	half := float64(max(b.N/2, 1))
	known, unknown := float64(spent[0].Nanoseconds())/half, float64(spent[1].Nanoseconds())/half
	b.ReportMetric(known, "known-ns/op")
	b.ReportMetric(unknown, "unknown-ns/op")
	b.ReportMetric(known/unknown, "known/unknown")
}

// A known account with a verified address gets one mail; nobody, an unverified
// address and a disabled account get none, and all answer nil.
func TestRequestResetQueuesMailOnlyForAVerifiedEnabledAccount(t *testing.T) {
	rec, st := newRecovery(t)
	ctx := t.Context()
	carol, err := rec.Register(ctx, "carol", "carols-password", "carol@example.org") // unverified
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := st.UserByUsername(ctx, "bob")
	if _, err := st.SetDisabled(ctx, bob.ID, &bob.CreatedAt); err != nil {
		t.Fatal(err)
	}
	before, _ := st.ListMail(ctx, 100)
	for _, login := range []string{"alice", "nobody", "carol", carol.Email, "bob", "bob@example.com"} {
		if err := rec.RequestReset(ctx, login, ""); err != nil {
			t.Fatalf("%s: %v", login, err)
		}
	}
	if n, err := rec.ProcessResetRequests(ctx); n != 6 || err != nil {
		t.Fatalf("processed %d (%v), want 6", n, err)
	}
	after, _ := st.ListMail(ctx, 100)
	if len(after)-len(before) != 1 || after[0].To != "alice@example.com" {
		t.Fatalf("%d new mails (newest to %s), want 1 to alice", len(after)-len(before), after[0].To)
	}
}

// A reset ends the user's access the one way (the generation moves on, and every
// instance sees it), spends the token, and leaves other users alone.
func TestResetPasswordEndsAccessTheOneWay(t *testing.T) {
	rec, st := newRecovery(t)
	ctx := t.Context()
	if err := rec.RequestReset(ctx, "john", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.ProcessResetRequests(ctx); err != nil {
		t.Fatal(err)
	}
	mail, _ := st.ListMail(ctx, 1)
	token := mail[0].Text[strings.Index(mail[0].Text, "token=")+len("token="):][:43]
	john, _ := st.UserByUsername(ctx, "john")
	alice, _ := st.UserByUsername(ctx, "alice")

	u, err := rec.ResetPassword(ctx, token, "johns-new-password", "127.0.0.1")
	if err != nil || u.ID != john.ID {
		t.Fatalf("reset: %+v %v", u, err)
	}
	if gen, _ := st.AccessGeneration(ctx, john.ID); gen != john.AccessGeneration+1 {
		t.Errorf("john's generation %d, want %d: what was granted before the reset must be void", gen, john.AccessGeneration+1)
	}
	if gen, _ := st.AccessGeneration(ctx, alice.ID); gen != alice.AccessGeneration {
		t.Errorf("alice's generation moved")
	}
	if _, err := rec.ResetPassword(ctx, token, "yet-another-password", ""); !errors.Is(err, recovery.ErrInvalidToken) {
		t.Errorf("the token again: %v, want ErrInvalidToken", err)
	}
}
