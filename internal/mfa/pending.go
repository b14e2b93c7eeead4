package mfa

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"time"

	"fiberauth/internal/apperr"
)

// A pending login is a right password waiting for its second factor. It lives in
// the shared state (any instance may get the code), under the hash of a random
// token that only the browser's cookie holds, and it authenticates nothing: it is
// not a session, and nothing but Verify reads it.
const (
	PendingTTL = 5 * time.Minute
	// MaxCodeAttempts is how many codes one pending login may try; the last wrong
	// one ends it.
	MaxCodeAttempts = 5
)

var (
	// ErrNoPendingLogin: no password was checked for this browser, or too long ago.
	ErrNoPendingLogin = apperr.New(apperr.KindUnauthenticated, "No login waiting for a code: log in with your password again")
	// ErrTooManyCodes ends a pending login after MaxCodeAttempts codes.
	ErrTooManyCodes = apperr.New(apperr.KindUnauthenticated, "Too many wrong codes: log in with your password again")
)

// Pending is what a pending login remembers of the password check.
type Pending struct {
	UserID     int64  `json:"uid"`
	Username   string `json:"username"`
	Role       string `json:"role"`
	Generation int64  `json:"gen"`
	Next       string `json:"next,omitempty"` // where a browser goes afterwards
	Expires    int64  `json:"exp"`            // unix nanoseconds: the storage's expiry frees the space, this makes the TTL exact
}

// validToken matches the tokens StartPending and Remember make (rand.Text).
var validToken = regexp.MustCompile(`^[A-Z2-7]{26}$`)

func pendingKey(token string) string  { return "mfa:pending:" + tokenDigest(token) }
func attemptsKey(token string) string { return "mfa:pending-attempts:" + tokenDigest(token) }

// tokenDigest is how a token is named in storage: its SHA-256 (a token is random,
// so no slow hash is needed), never the token itself.
func tokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// StartPending records a password login waiting for its second factor and
// returns the token for the browser's cookie.
func (s *Service) StartPending(p Pending) (string, error) {
	p.Expires = s.now().Add(PendingTTL).UnixNano()
	raw, err := json.Marshal(p)
	if err != nil {
		return "", apperr.Wrap(apperr.KindInternal, "could not record the pending login", err)
	}
	token := rand.Text()
	if err := s.shared.Set(pendingKey(token), raw, PendingTTL); err != nil {
		return "", unavailable(err)
	}
	return token, nil
}

// Pending reads the pending login of a token (from the cookie).
func (s *Service) Pending(token string) (Pending, error) {
	if !validToken.MatchString(token) {
		return Pending{}, ErrNoPendingLogin
	}
	raw, err := s.shared.Get(pendingKey(token))
	if err != nil {
		return Pending{}, unavailable(err)
	}
	var p Pending
	if raw == nil || json.Unmarshal(raw, &p) != nil || p.UserID == 0 || s.now().UnixNano() >= p.Expires {
		return Pending{}, ErrNoPendingLogin
	}
	return p, nil
}

// Attempt counts one code tried against a pending login, before it is checked,
// so that however many arrive at once, on however many instances, no more than
// MaxCodeAttempts are checked. last is true for the final one allowed.
func (s *Service) Attempt(token string) (last bool, err error) {
	n, _, err := s.shared.Count(attemptsKey(token), PendingTTL)
	if err != nil {
		return false, unavailable(err)
	}
	if n > MaxCodeAttempts {
		s.EndPending(token)
		return false, ErrTooManyCodes
	}
	return n == MaxCodeAttempts, nil
}

// EndPending forgets a pending login: after its second factor passed, or after
// its last wrong code.
func (s *Service) EndPending(token string) {
	if !validToken.MatchString(token) {
		return
	}
	_ = s.shared.Delete(pendingKey(token)) // it expires on its own anyway
}

func unavailable(err error) error {
	return apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
}
