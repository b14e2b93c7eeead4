// Package secretbox encrypts the secrets the service must read back (a TOTP
// seed, a token signing key) before they reach the database, with AES-256-GCM
// under SECRETS_KEY. A database dump without that key reveals none of them.
//
// Each value is sealed to a purpose (the additional data, e.g. "totp:42"), so a
// sealed value copied into another row or another use does not open there.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// version prefixes every sealed value, so a later key or cipher can be told apart.
const version byte = 1

// ErrCannotOpen is returned for a value that was not sealed under this key for
// this purpose, or was altered.
var ErrCannotOpen = errors.New("secretbox: cannot open: wrong key, wrong purpose or altered")

// Box seals and opens values under one key. It is safe for concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secretbox: key of %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plain for purpose: version, a random nonce, then the ciphertext.
func (b *Box) Seal(plain []byte, purpose string) []byte {
	out := make([]byte, 1+b.aead.NonceSize(), 1+b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	out[0] = version
	_, _ = rand.Read(out[1:]) // crypto/rand.Read never fails
	return b.aead.Seal(out, out[1:], plain, []byte(purpose))
}

// Open returns what Seal sealed for purpose.
func (b *Box) Open(sealed []byte, purpose string) ([]byte, error) {
	n := b.aead.NonceSize()
	if len(sealed) < 1+n+b.aead.Overhead() || sealed[0] != version {
		return nil, ErrCannotOpen
	}
	plain, err := b.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(purpose))
	if err != nil {
		return nil, ErrCannotOpen
	}
	return plain, nil
}
