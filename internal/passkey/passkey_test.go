package passkey

import (
	"strings"
	"testing"

	"fiberauth/internal/apperr"
	"fiberauth/internal/shared"
)

func TestNewTakesTheRelyingPartyFromPublicURL(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	for _, tc := range []struct {
		url, rpID string
		ok        bool
	}{
		{"http://localhost:3000", "localhost", true},
		{"https://auth.example.com", "auth.example.com", true},
		{"https://auth.example.com:8443/", "auth.example.com", true},
		{"ftp://example.com", "", false},
		{"localhost:3000", "", false},
		{"", "", false},
	} {
		s, err := New(Config{PublicURL: tc.url, SecretsKey: key, Shared: shared.NewMemory(nil)})
		if (err == nil) != tc.ok {
			t.Fatalf("New(%q): %v, want ok=%v", tc.url, err, tc.ok)
		}
		if tc.ok && s.RPID() != tc.rpID {
			t.Fatalf("New(%q): RP ID %q, want %q", tc.url, s.RPID(), tc.rpID)
		}
	}
	if _, err := New(Config{PublicURL: "http://localhost:3000", SecretsKey: []byte("short")}); err == nil {
		t.Fatal("a short SECRETS_KEY was accepted")
	}
}

func TestLoginTicketOpensOnlyForItsPurposeAndKey(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	s, err := New(Config{PublicURL: "http://localhost:3000", SecretsKey: key, Shared: shared.NewMemory(nil)})
	if err != nil {
		t.Fatal(err)
	}
	_, ticket, err := s.BeginLogin()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New(Config{PublicURL: "http://localhost:3000", SecretsKey: []byte(strings.Repeat("o", 32)), Shared: shared.NewMemory(nil)})
	if _, err := other.FinishLogin(t.Context(), ticket, []byte(`{}`), ""); err != ErrNoChallenge {
		t.Fatalf("a ticket under another key: %v, want ErrNoChallenge", err)
	}
	tampered := append([]byte{}, ticket...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.FinishLogin(t.Context(), tampered, []byte(`{}`), ""); err != ErrNoChallenge {
		t.Fatalf("a tampered ticket: %v, want ErrNoChallenge", err)
	}
	if _, err := s.FinishLogin(t.Context(), ticket, []byte(`{}`), ""); err != ErrMalformed {
		t.Fatalf("a real ticket with a bad credential: %v, want ErrMalformed", err)
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{"": "Passkey", "  Laptop  ": "Laptop", "Téléphone": "Téléphone"} {
		if got, err := CleanName(in); err != nil || got != want {
			t.Errorf("CleanName(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{strings.Repeat("x", MaxNameBytes+1), "a\x00b", "a\nb", "\xff"} {
		if _, err := CleanName(bad); !apperr.Is(err, apperr.KindValidation) {
			t.Errorf("CleanName(%q): %v, want a validation error", bad, err)
		}
	}
}
