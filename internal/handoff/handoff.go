// Package handoff passes a value from one request of a user to their next one,
// once: what a form post made (a new API key's secret) is shown on the page the
// post redirects to (Post/Redirect/Get), and never again.
//
// The value waits in the shared state, so the next request may reach any
// instance, sealed (AES-256-GCM) under a key derived from the ticket that takes it
// back; the ticket itself is kept only by the caller (a short-lived cookie), so
// the shared state alone never reveals a value. Exactly one Take of a ticket
// succeeds, on all instances together.
package handoff

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"time"

	"fiberauth/internal/shared"
)

// Store hands values over through the shared state.
type Store struct {
	shared shared.Store
	ttl    time.Duration
	now    func() time.Time
}

// New makes a Store whose values can be taken within ttl of being put, by the
// clock now (nil: time.Now). The storage's own expiry frees the space; the
// deadline sealed with each value makes ttl exact.
func New(s shared.Store, ttl time.Duration, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{shared: s, ttl: ttl, now: now}
}

// validTicket matches the tickets Put makes (rand.Text: 26 base32 characters).
var validTicket = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// Put keeps value for owner and returns the ticket that takes it back.
func (h *Store) Put(owner string, value []byte) (ticket string, err error) {
	ticket = rand.Text()
	id, aead, err := derive(ticket)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails
	plain := binary.BigEndian.AppendUint64(nil, uint64(h.now().Add(h.ttl).UnixNano()))
	sealed := aead.Seal(nonce, nonce, append(plain, value...), []byte(owner))
	if err := h.shared.Set(valueKey(owner, id), sealed, h.ttl); err != nil {
		return "", err
	}
	return ticket, nil
}

// Take returns the value put for owner under ticket. ok is false when there is
// none: never put, put for another owner, expired, or taken already, here or on
// another instance.
func (h *Store) Take(owner, ticket string) (value []byte, ok bool, err error) {
	if !validTicket.MatchString(ticket) {
		return nil, false, nil
	}
	id, aead, err := derive(ticket)
	if err != nil {
		return nil, false, err
	}
	key := valueKey(owner, id)
	sealed, err := h.shared.Get(key)
	if err != nil || sealed == nil {
		return nil, false, err
	}
	// Reading is not taking: two requests can both read it. Counting is atomic
	// everywhere, so only the first to count takes it. The claim outlives the
	// value: its window starts after the value's.
	if n, _, err := h.shared.Count(claimKey(owner, id), h.ttl); err != nil || n != 1 {
		return nil, false, err
	}
	// The claim already makes the value unusable; deleting it is tidiness.
	_ = h.shared.Delete(key)
	if len(sealed) < aead.NonceSize() {
		return nil, false, errCorrupt
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(owner))
	if err != nil || len(plain) < 8 {
		return nil, false, errCorrupt
	}
	if !h.now().Before(time.Unix(0, int64(binary.BigEndian.Uint64(plain)))) {
		return nil, false, nil // expired, though the storage still had it
	}
	return plain[8:], true, nil
}

var errCorrupt = errors.New("handoff: stored value does not open")

// derive turns a ticket into the storage ID of its value and the AEAD that seals
// it, with a hash for each purpose so that neither gives away the other.
func derive(ticket string) (id string, aead cipher.AEAD, err error) {
	idSum := sha256.Sum256([]byte("fiberauth handoff id\x00" + ticket))
	keySum := sha256.Sum256([]byte("fiberauth handoff key\x00" + ticket))
	block, err := aes.NewCipher(keySum[:])
	if err != nil {
		return "", nil, err
	}
	aead, err = cipher.NewGCM(block)
	if err != nil {
		return "", nil, err
	}
	return hex.EncodeToString(idSum[:]), aead, nil
}

func valueKey(owner, id string) string { return "handoff:" + owner + ":" + id }
func claimKey(owner, id string) string { return "handoff-claim:" + owner + ":" + id }
