package store

import (
	"testing"
	"time"

	"fiberauth/internal/apperr"
)

func TestPasskeyStore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		// An account with no password: today's users all have one, but the rule is
		// for the accounts that passkeys make possible.
		nopw := &User{Username: "nopw", PasswordHash: "", Role: RoleUser}
		withpw := &User{Username: "withpw", PasswordHash: "$2a$04$x", Role: RoleUser}
		for _, u := range []*User{nopw, withpw} {
			if err := s.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		t.Run("the user handle is made once", func(t *testing.T) {
			h1, err := s.PasskeyHandle(ctx, nopw.ID, []byte("first-handle"))
			if err != nil {
				t.Fatal(err)
			}
			h2, err := s.PasskeyHandle(ctx, nopw.ID, []byte("second-handle"))
			if err != nil || string(h1) != "first-handle" || string(h2) != "first-handle" {
				t.Fatalf("handles %q %q %v", h1, h2, err)
			}
			u, err := s.UserByPasskeyHandle(ctx, h1)
			if err != nil || u.ID != nopw.ID {
				t.Fatalf("UserByPasskeyHandle: %+v %v", u, err)
			}
			if _, err := s.UserByPasskeyHandle(ctx, []byte("nobody")); !apperr.Is(err, apperr.KindNotFound) {
				t.Fatalf("unknown handle: %v", err)
			}
		})
		mk := func(u *User, credID string) Passkey {
			t.Helper()
			p := Passkey{UserID: u.ID, CredentialID: []byte(credID), PublicKey: []byte("cose"), Transports: []string{"internal", "hybrid"},
				Flags: 0x45, AttestationType: "none", AttestationFormat: "none", Name: credID}
			if err := s.CreatePasskey(ctx, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
		first := mk(nopw, "cred-1")
		second := mk(nopw, "cred-2")
		t.Run("a credential is registered once", func(t *testing.T) {
			dup := Passkey{UserID: withpw.ID, CredentialID: []byte("cred-1"), PublicKey: []byte("x"), Name: "dup"}
			if err := s.CreatePasskey(ctx, &dup); !apperr.Is(err, apperr.KindConflict) {
				t.Fatalf("duplicate credential: %v", err)
			}
		})
		t.Run("read back as written", func(t *testing.T) {
			got, err := s.PasskeyByCredentialID(ctx, []byte("cred-1"))
			if err != nil || got.ID != first.ID || got.Flags != 0x45 || len(got.Transports) != 2 || got.LastUsedAt != nil {
				t.Fatalf("%+v %v", got, err)
			}
		})
		t.Run("the sign counter only moves forward", func(t *testing.T) {
			at := time.Now()
			for _, tc := range []struct {
				count uint32
				want  bool
			}{{5, true}, {5, false}, {4, false}, {6, true}, {0, false}} {
				ok, err := s.RecordPasskeyUse(ctx, first.ID, tc.count, 0x45, at)
				if err != nil || ok != tc.want {
					t.Fatalf("count %d: %v %v, want %v", tc.count, ok, err, tc.want)
				}
			}
			// An authenticator without a counter always says 0.
			for range 2 {
				if ok, err := s.RecordPasskeyUse(ctx, second.ID, 0, 0x45, at); err != nil || !ok {
					t.Fatalf("zero counter: %v %v", ok, err)
				}
			}
		})
		t.Run("the last passkey of an account without a password stays", func(t *testing.T) {
			if err := s.DeletePasskey(ctx, withpw.ID, first.ID); !apperr.Is(err, apperr.KindNotFound) {
				t.Fatalf("another user's passkey: %v", err)
			}
			if err := s.DeletePasskey(ctx, nopw.ID, first.ID); err != nil {
				t.Fatalf("one of two: %v", err)
			}
			if err := s.DeletePasskey(ctx, nopw.ID, second.ID); err != ErrLastPasskey {
				t.Fatalf("the last one: %v, want ErrLastPasskey", err)
			}
			own := mk(withpw, "cred-3")
			if err := s.DeletePasskey(ctx, withpw.ID, own.ID); err != nil {
				t.Fatalf("the last one of an account with a password: %v", err)
			}
		})
		t.Run("at most MaxPasskeysPerUser", func(t *testing.T) {
			for i := range MaxPasskeysPerUser {
				p := Passkey{UserID: withpw.ID, CredentialID: []byte{byte(i), 'x'}, PublicKey: []byte("k"), Name: "n"}
				if err := s.CreatePasskey(ctx, &p); err != nil {
					t.Fatal(i, err)
				}
			}
			p := Passkey{UserID: withpw.ID, CredentialID: []byte("one-too-many"), PublicKey: []byte("k"), Name: "n"}
			if err := s.CreatePasskey(ctx, &p); err != ErrTooManyPasskeys {
				t.Fatalf("beyond the limit: %v", err)
			}
			n, err := s.DeletePasskeys(ctx, withpw.ID)
			if err != nil || n != MaxPasskeysPerUser {
				t.Fatalf("DeletePasskeys: %d %v", n, err)
			}
		})
	})
}
