// Package shared is the state every instance of the service sees: Fiber's storage
// (sessions and plain values) plus the few compound operations that must be exact
// when several instances use them at once — counting requests, counting failed
// logins and the logins in flight, keeping a user's list of sessions, and raising a
// user's access generation. On Redis each one is a single Lua script, so it is atomic
// across instances; in memory (one process) each runs under one lock.
//
// Nothing here is read then written by the caller: a read followed by a write is
// exactly what lets two instances each admit one more request than the limit.
package shared

import (
	"time"

	"github.com/gofiber/fiber/v2"
)

// Store is the shared state.
type Store interface {
	fiber.Storage

	// Count adds one to key's counter and returns the count and how long the
	// counter's window has left. The window (of length window) starts with the first
	// count; when it ends the counter starts again from zero.
	Count(key string, window time.Duration) (n int64, left time.Duration, err error)

	// Raise stores v under key unless key already holds a number at least as
	// large, and returns what key holds afterwards. A value once raised never goes
	// down (until it expires after ttl), whatever order instances write in.
	Raise(key string, v int64, ttl time.Duration) (int64, error)

	// Replace writes key only if it exists, and reports whether it did: a write
	// that must not bring back a key deleted since it was read (an ended session).
	Replace(key string, val []byte, ttl time.Duration) (bool, error)

	// Claim writes key (with an empty value, for ttl) unless it exists, and reports
	// whether this call wrote it: of any number of callers on any instances, one
	// claims a key until it expires (a single-use challenge, once spent).
	Claim(key string, ttl time.Duration) (bool, error)

	// GetMany reads keys in one round trip; a missing key reads as nil.
	GetMany(keys ...string) ([][]byte, error)

	// BeginAttempt admits an attempt that may fail (a password check), unless too
	// many have failed or too many are in flight to be sure that, were they all to
	// fail, no more than Max would have been tried (see Attempt).
	BeginAttempt(a Attempt) (AttemptResult, error)
	// EndAttempt records how an admitted attempt ended: it leaves the in-flight set,
	// and a failure is counted.
	EndAttempt(a Attempt, failed bool) error
	// Failures reads the failures counted for a, without admitting anything.
	Failures(a Attempt) (n int64, left time.Duration, err error)

	// AddToIndex adds member to the index at key (with its time, for ordering),
	// drops members whose own key no longer exists (an ended or expired session),
	// and when more than limit remain, deletes the oldest members' keys and drops them
	// from the index, returning them.
	AddToIndex(key, member string, at time.Time, limit int, ttl time.Duration) (evicted []string, err error)
	// RemoveFromIndex drops members from the index at key.
	RemoveFromIndex(key string, members ...string) error
	// Index lists the members of the index at key, oldest first.
	Index(key string) ([]string, error)
}

// Attempt names the counters of one throttled subject (a username from one
// client): Failures counts failed attempts in a window of Window; InFlight holds
// the attempts being checked, each for at most Lease (so that an instance that dies
// mid-check frees its place).
type Attempt struct {
	Failures string
	InFlight string
	ID       string // this attempt's member of InFlight
	Max      int
	Window   time.Duration
	Lease    time.Duration
	Now      time.Time
}

// Outcome is what BeginAttempt decided.
type Outcome int

const (
	// Admitted: the attempt may be checked; call EndAttempt when its answer is known.
	Admitted Outcome = iota
	// Blocked: Max attempts failed in the window; RetryAfter says when it ends.
	Blocked
	// Busy: fewer than Max failed, but the failures plus the attempts in flight
	// reach Max. Ask again shortly: the ones in flight will succeed (and leave) or
	// fail (and block).
	Busy
)

// AttemptResult is BeginAttempt's answer.
type AttemptResult struct {
	Outcome    Outcome
	RetryAfter time.Duration // for Blocked
}
