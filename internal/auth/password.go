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

// hasher hashes and checks passwords at one bcrypt cost.
type hasher struct {
	cost int
	// dummy is a hash of a random password at the same cost: unknown users are checked
	// against it so that they take as long as known ones.
	dummy []byte
	// compare is bcrypt.CompareHashAndPassword; tests wrap it to see which hash each
	// path compares against.
	compare func(hash, password []byte) error
}

func newHasher(cost int) (hasher, error) {
	dummy, err := bcrypt.GenerateFromPassword([]byte("not-a-real-password-just-for-timing"), cost)
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
// dummy is compared instead so the answer takes the same time, and is always false.
// A password over 72 bytes never matches, even if its first 72 bytes would.
func (h hasher) Check(hash []byte, password string) bool {
	tooLong := len(password) > MaxPasswordBytes
	if tooLong {
		password = password[:MaxPasswordBytes]
	}
	if hash == nil {
		_ = h.compare(h.dummy, []byte(password))
		return false
	}
	ok := h.compare(hash, []byte(password)) == nil
	return ok && !tooLong
}

// NeedsRehash reports whether hash was made with a lower cost than the current one.
func (h hasher) NeedsRehash(hash []byte) bool {
	cost, err := bcrypt.Cost(hash)
	return err == nil && cost < h.cost
}
