package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"fiberauth/internal/shared"
	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
)

// TestRFC6238Vectors runs RFC 6238 Appendix B's SHA-1 vectors (8 digits, the
// 20-byte ASCII secret "12345678901234567890") through MatchStep, the function
// every code check uses.
func TestRFC6238Vectors(t *testing.T) {
	secret := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte("12345678901234567890"))
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step, ok := MatchStep(secret, v.code, time.Unix(v.unix, 0), otp.DigitsEight)
		if !ok || step != v.unix/30 {
			t.Errorf("T=%d code %s: ok=%v step=%d, want step %d", v.unix, v.code, ok, step, v.unix/30)
		}
		wrong := []byte(v.code)
		wrong[7] = '0' + (wrong[7]-'0'+1)%10
		if _, ok := MatchStep(secret, string(wrong), time.Unix(v.unix, 0), otp.DigitsEight); ok {
			t.Errorf("T=%d: a wrong code %s passed", v.unix, wrong)
		}
	}
}

type fixture struct {
	svc    *Service
	store  store.Store
	clock  *testenv.Clock
	userID int64
	dbPath string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, filepath.Join(t.TempDir(), "mfa.db"))
}

// onBothDatabases runs f on SQLite and, when TEST_POSTGRES_URL is set, PostgreSQL.
func onBothDatabases(t *testing.T, f func(t *testing.T, fx *fixture)) {
	t.Run("sqlite", func(t *testing.T) { f(t, newFixture(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, newFixtureOn(t, testenv.PostgresURL(t))) })
}

func newFixtureOn(t *testing.T, path string) *fixture {
	t.Helper()
	st, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	u := store.User{Username: "carol", PasswordHash: "x", Role: store.RoleUser}
	if err := st.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := shared.NewMemory(clock.Now)
	t.Cleanup(func() { mem.Close() })
	svc, err := New(Options{Store: st, Shared: mem, SecretsKey: []byte(rand.Text() + "012345"), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: st, clock: clock, userID: u.ID, dbPath: path}
}

// enrol starts and confirms TOTP and returns the secret and the recovery codes.
func (f *fixture) enrol(t *testing.T) (string, []string) {
	t.Helper()
	e, err := f.svc.Start(t.Context(), f.userID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	codes, err := f.svc.Confirm(t.Context(), f.userID, code(t, e.Secret, f.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	return e.Secret, codes
}

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfirmNeedsTheRightCode(t *testing.T) {
	f := newFixture(t)
	e, err := f.svc.Start(t.Context(), f.userID, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Confirm(t.Context(), f.userID, "000000"); !errors.Is(err, ErrInvalidCode) {
		t.Fatalf("wrong code: %v", err)
	}
	if u, _ := f.store.UserByID(t.Context(), f.userID); u.SecondFactor != "" {
		t.Fatal("second factor on before confirming")
	}
	if _, err := f.svc.Confirm(t.Context(), f.userID, code(t, e.Secret, f.clock.Now())); err != nil {
		t.Fatal(err)
	}
	if u, _ := f.store.UserByID(t.Context(), f.userID); u.SecondFactor != store.SecondFactorTOTP {
		t.Fatalf("second factor %q after confirming", u.SecondFactor)
	}
	if _, err := f.svc.Start(t.Context(), f.userID, "carol"); err == nil {
		t.Fatal("a second enrolment replaced a confirmed one")
	}
}

func TestCodeReplayIsRefused(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enrol(t)
	f.clock.Advance(30 * time.Second)
	c := code(t, secret, f.clock.Now())
	if err := f.svc.VerifyCode(t.Context(), f.userID, c); err != nil {
		t.Fatalf("first use: %v", err)
	}
	if err := f.svc.VerifyCode(t.Context(), f.userID, c); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("replay: %v", err)
	}
	// An earlier step's code, still inside the skew, is refused too: it is older
	// than the one accepted.
	if err := f.svc.VerifyCode(t.Context(), f.userID, code(t, secret, f.clock.Now().Add(-30*time.Second))); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("older step: %v", err)
	}
}

func TestCodeReplayAtOnceOnlyOneWins(t *testing.T) {
	onBothDatabases(t, testCodeReplayAtOnce)
}

func testCodeReplayAtOnce(t *testing.T, f *fixture) {
	secret, _ := f.enrol(t)
	f.clock.Advance(30 * time.Second)
	c := code(t, secret, f.clock.Now())
	var wins atomic.Int32
	testenv.Concurrently(8, func(int) {
		if f.svc.VerifyCode(context.Background(), f.userID, c) == nil {
			wins.Add(1)
		}
	})
	if wins.Load() != 1 {
		t.Fatalf("%d of 8 parallel uses of one code passed, want 1", wins.Load())
	}
}

func TestSkew(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps int
		ok    bool
	}{
		{"a code one step early is accepted", -1, true},
		{"a code one step late is accepted", 1, true},
		{"a code two steps early is refused", -2, false},
		{"a code two steps late is refused", 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			secret, _ := f.enrol(t)
			f.clock.Advance(10 * time.Minute) // past the step used to confirm
			c := code(t, secret, f.clock.Now().Add(time.Duration(tc.steps)*30*time.Second))
			err := f.svc.VerifyCode(t.Context(), f.userID, c)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRecoveryCodeWorksOnceUnderConcurrency(t *testing.T) {
	onBothDatabases(t, testRecoveryCodeOnce)
}

func testRecoveryCodeOnce(t *testing.T, f *fixture) {
	_, codes := f.enrol(t)
	var wins atomic.Int32
	testenv.Concurrently(2, func(int) {
		if f.svc.UseRecoveryCode(context.Background(), f.userID, codes[0]) == nil {
			wins.Add(1)
		}
	})
	if wins.Load() != 1 {
		t.Fatalf("%d of 2 parallel uses of one recovery code passed, want exactly 1", wins.Load())
	}
	if err := f.svc.UseRecoveryCode(t.Context(), f.userID, codes[0]); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("third use: %v", err)
	}
	// Typed in capitals without the dash, another one works.
	typed := bytes.ToUpper([]byte(codes[1][:5] + codes[1][6:]))
	if err := f.svc.UseRecoveryCode(t.Context(), f.userID, string(typed)); err != nil {
		t.Fatalf("typed differently: %v", err)
	}
	// New codes: the old ones stop working.
	fresh, err := f.svc.RegenerateCodes(t.Context(), f.userID)
	if err != nil || len(fresh) != RecoveryCodeCount {
		t.Fatalf("regenerate: %v", err)
	}
	if err := f.svc.UseRecoveryCode(t.Context(), f.userID, codes[2]); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("old code after regenerating: %v", err)
	}
	if err := f.svc.UseRecoveryCode(t.Context(), f.userID, fresh[0]); err != nil {
		t.Fatalf("new code: %v", err)
	}
}

func TestPendingLogin(t *testing.T) {
	t.Run("it expires after five minutes", func(t *testing.T) {
		f := newFixture(t)
		token, err := f.svc.StartPending(Pending{UserID: f.userID, Username: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(PendingTTL - time.Second)
		if _, err := f.svc.Pending(token); err != nil {
			t.Fatalf("just before expiry: %v", err)
		}
		f.clock.Advance(2 * time.Second)
		if _, err := f.svc.Pending(token); !errors.Is(err, ErrNoPendingLogin) {
			t.Fatalf("after expiry: %v", err)
		}
	})
	t.Run("no more than five codes are tried, however many arrive at once", func(t *testing.T) {
		f := newFixture(t)
		token, err := f.svc.StartPending(Pending{UserID: f.userID, Username: "carol"})
		if err != nil {
			t.Fatal(err)
		}
		var admitted atomic.Int32
		testenv.Concurrently(20, func(int) {
			if _, err := f.svc.Attempt(token); err == nil {
				admitted.Add(1)
			}
		})
		if admitted.Load() != MaxCodeAttempts {
			t.Fatalf("%d attempts admitted, want %d", admitted.Load(), MaxCodeAttempts)
		}
		if _, err := f.svc.Pending(token); !errors.Is(err, ErrNoPendingLogin) {
			t.Fatalf("pending login after too many codes: %v", err)
		}
	})
	t.Run("a token of another shape is not looked up", func(t *testing.T) {
		f := newFixture(t)
		if _, err := f.svc.Pending("../../etc"); !errors.Is(err, ErrNoPendingLogin) {
			t.Fatal(err)
		}
	})
}

// TestSecretIsUnreadableInTheDatabaseFile looks for the base32 secret (and its raw
// bytes) in the SQLite file: only the sealed value may be there.
func TestSecretIsUnreadableInTheDatabaseFile(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.enrol(t)
	if err := f.store.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
	raw, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(f.dbPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) == 0 {
		t.Fatal("empty database file")
	}
	if bytes.Contains(all, []byte(secret)) || bytes.Contains(bytes.ToLower(all), bytes.ToLower([]byte(secret))) || bytes.Contains(all, raw) {
		t.Fatal("the TOTP secret is readable in the database file")
	}
}

func TestRememberedBrowser(t *testing.T) {
	f := newFixture(t)
	token, err := f.svc.Remember(t.Context(), f.userID, 3, "127.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		token   string
		userID  int64
		gen     int64
		advance time.Duration
		want    bool
	}{
		{"the same user and generation skip", token, f.userID, 3, 0, true},
		{"another generation does not", token, f.userID, 4, 0, false},
		{"another user does not", token, f.userID + 1, 3, 0, false},
		{"a wrong token does not", rand.Text(), f.userID, 3, 0, false},
		{"after thirty days it does not", token, f.userID, 3, RememberFor, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock.Advance(tc.advance)
			ok, err := f.svc.Remembered(t.Context(), tc.token, tc.userID, tc.gen)
			if err != nil || ok != tc.want {
				t.Fatalf("Remembered = %v, %v; want %v", ok, err, tc.want)
			}
		})
	}
}
