package auth

import (
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"fiberauth/internal/apperr"
)

// Password length bounds. bcrypt only reads the first 72 bytes, so a longer password
// is refused rather than silently truncated.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
)

// ValidatePassword checks a new password against the policy.
func ValidatePassword(field, password string) error {
	switch {
	case !utf8.ValidString(password):
		return apperr.Validation("Validation error", apperr.FieldError{Field: field, Message: "must be valid UTF-8"})
	case len(password) < MinPasswordBytes:
		return apperr.Validation("Validation error", apperr.FieldError{Field: field, Message: "must be at least 8 bytes"})
	case len(password) > MaxPasswordBytes:
		return apperr.Validation("Validation error", apperr.FieldError{Field: field, Message: "must be at most 72 bytes"})
	}
	return nil
}

// hasher hashes passwords at one bcrypt cost, and checks them so that a wrong
// password costs the same whoever it is for: a known user whatever the cost of
// their stored hash, or nobody at all.
type hasher struct {
	cost int
	// dummy is a hash of a random password at the costliest cost in use (the
	// configured one, or a higher one still stored from before): unknown users are
	// checked against it so that they take as long as the slowest known ones.
	dummy []byte
	// compare is bcrypt.CompareHashAndPassword; tests wrap it to see which hash each
	// path compares against.
	compare func(hash, password []byte) error
}

// newHasher hashes at cost; storedCost is the highest cost among the stored hashes
// (0 for none).
func newHasher(cost, storedCost int) (hasher, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-real-password-just-for-timing"), max(cost, storedCost))
	if err != nil {
		return hasher{}, err
	}
	return hasher{cost: cost, dummy: dummy, compare: bcrypt.CompareHashAndPassword}, nil
}

// Hash returns the bcrypt hash of a password that passed ValidatePassword.
func (h hasher) Hash(password string) (string, error) {
	if len(password) > MaxPasswordBytes {
		return "", apperr.Validation("Validation error", apperr.FieldError{Field: "password", Message: "must be at most 72 bytes"})
	}
	b, err := bcrypt.GenerateFromPassword([]byte(password), h.cost)
	if err != nil {
		return "", apperr.Wrap(apperr.KindInternal, "could not hash password", err)
	}
	return string(b), nil
}

// Check reports whether password matches hash. A nil hash means "no such user": the
// dummy is compared instead, and the answer is always false. A password over 72
// bytes never matches, even if its first 72 bytes would.
//
// A wrong password costs what a compare against the dummy costs, whatever hash it
// was compared with: bcrypt's work doubles with each cost step, so a hash of a
// lower cost is compared again 2^(dummy cost - its cost) - 1 more times (as Django's
// harden_runtime does). A right one is not padded: only its owner sees that time.
func (h hasher) Check(hash []byte, password string) bool {
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		password = password[:MaxPasswordBytes]
	}
	if hash == nil {
		_ = h.compare(h.dummy, []byte(password))
		return false
	}
	ok := h.compare(hash, []byte(password)) == nil && !tooLong
	if !ok {
		h.pad(hash, password)
	}
	return ok
}

// pad repeats a compare against hash until it has cost what one against the dummy
// does.
func (h hasher) pad(hash []byte, password string) {
	cost, err := bcrypt.Cost(hash)
	target, _ := bcrypt.Cost(h.dummy)
	if err != nil || cost >= target {
		return
	}
	for range (1 << (target - cost)) - 1 {
		_ = h.compare(hash, []byte(password))
	}
}

// NeedsRehash reports whether hash was made with another cost than the current one:
// a lower one is weaker, a higher one makes its user's logins (and, through the
// dummy, everyone's failed ones) slower than configured.
func (h hasher) NeedsRehash(hash []byte) bool {
	cost, err := bcrypt.Cost(hash)
	return err == nil && cost != h.cost
}
