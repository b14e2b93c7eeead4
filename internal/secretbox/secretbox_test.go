package secretbox

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("JBSWY3DPEHPK3PXP")
	sealed := box.Seal(secret, "totp:1")
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed value holds the secret in the clear")
	}
	if again := box.Seal(secret, "totp:1"); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	got, err := box.Open(sealed, "totp:1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}

	other, _ := New(bytes.Repeat([]byte{8}, 32))
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another key":     func() ([]byte, error) { return other.Open(sealed, "totp:1") },
		"another purpose": func() ([]byte, error) { return box.Open(sealed, "totp:2") },
		"altered":         func() ([]byte, error) { return box.Open(flipped, "totp:1") },
		"truncated":       func() ([]byte, error) { return box.Open(sealed[:10], "totp:1") },
		"empty":           func() ([]byte, error) { return box.Open(nil, "totp:1") },
	} {
		if _, err := open(); !errors.Is(err, ErrCannotOpen) {
			t.Errorf("%s: err = %v, want ErrCannotOpen", name, err)
		}
	}
	if _, err := New(key[:16]); err == nil {
		t.Error("a 16-byte key was accepted")
	}
}
