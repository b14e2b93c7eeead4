// Package throttle limits failed logins per subject (a claimed username from one
// client), counted in the shared state so that every instance sees one count.
//
// Only failures count, and never more than Max of them are ever checked in a
// window, however many arrive at once and on however many instances. Both hold
// because an attempt takes a place in the subject's in-flight set before its
// password is checked, and is admitted only while the failures so far plus the
// attempts in flight are fewer than Max: were they all to fail, Max would be
// reached, not passed. An attempt that finds no place waits (a little, polling) for
// those in flight to end: if they succeed it goes on, if they fail it is refused.
// So a user's own correct logins, however many at once, are never refused as
// failures (Fiber's limiter with SkipSuccessfulRequests refuses them while they
// are in flight), and a burst of guesses gets Max checks, not as many as it sends.
package throttle

import (
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"fiberauth/internal/shared"
)

// Defaults for how attempts wait and how long a place in flight is held.
const (
	// DefaultWait bounds how long an attempt waits for a place among those in flight.
	DefaultWait = 10 * time.Second
	// lease bounds how long an attempt holds its place: longer than any password
	// check, so that only an instance that died mid-check loses it.
	lease = 30 * time.Second
)

// Throttle limits failed attempts per subject to Max per Window.
type Throttle struct {
	store  shared.Store
	max    int
	window time.Duration
	wait   time.Duration
	now    func() time.Time
}

// New returns a throttle allowing max failed attempts per subject per window. now is
// the clock (time.Now when nil).
func New(store shared.Store, max int, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{store: store, max: max, window: window, wait: DefaultWait, now: now}
}

// Refused is why an attempt was not admitted.
type Refused struct {
	RetryAfter time.Duration
	// Busy: not blocked, but attempts of the subject kept every place in flight
	// for longer than the throttle waits.
	Busy bool
}

func (r *Refused) Error() string {
	if r.Busy {
		return "throttle: too many attempts in flight"
	}
	return fmt.Sprintf("throttle: blocked for %s", r.RetryAfter)
}

// Attempt is one admitted attempt; End it when its answer is known.
type Attempt struct {
	t *Throttle
	a shared.Attempt
}

// attempt names subject's counters. The subject is hashed, so that however long
// the client input behind it (a username), the keys it leaves in the shared state
// are of one small size.
func (t *Throttle) attempt(subject string) shared.Attempt {
	sum := sha256.Sum256([]byte(subject))
	id := hex.EncodeToString(sum[:16])
	return shared.Attempt{Failures: "login-failures:" + id, InFlight: "login-inflight:" + id,
		Max: t.max, Window: t.window, Lease: lease}
}

// Begin admits an attempt for subject that may fail, waiting while the places are
// taken by attempts in flight. It returns *Refused when the subject is blocked or
// stayed busy, and the storage's error when that does not answer.
func (t *Throttle) Begin(ctx context.Context, subject string) (*Attempt, error) {
	a := t.attempt(subject)
	a.ID = crand.Text()                // names this attempt in the in-flight set
	deadline := time.Now().Add(t.wait) // real time: it bounds a real wait
	for {
		a.Now = t.now()
		r, err := t.store.BeginAttempt(a)
		if err != nil {
			return nil, err
		}
		switch r.Outcome {
		case shared.Admitted:
			return &Attempt{t: t, a: a}, nil
		case shared.Blocked:
			return nil, &Refused{RetryAfter: r.RetryAfter}
		}
		if time.Now().After(deadline) {
			return nil, &Refused{Busy: true, RetryAfter: time.Second}
		}
		// A password check takes tens to hundreds of milliseconds: poll a few
		// times within one, jittered so waiting requests do not ask in step.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10*time.Millisecond + rand.N(20*time.Millisecond)):
		}
	}
}

// End records the answer: a failure is counted, a success leaves no trace.
func (a *Attempt) End(failed bool) error {
	a.a.Now = a.t.now()
	return a.t.store.EndAttempt(a.a, failed)
}

// Check refuses, without admitting an attempt, a subject that is blocked: for a
// credential known to be right (it passed a check moments ago), which tests nothing
// and so need not take a place, but is refused while the subject is blocked like
// any other.
func (t *Throttle) Check(subject string) error {
	a := t.attempt(subject)
	a.Now = t.now()
	n, left, err := t.store.Failures(a)
	if err != nil {
		return err
	}
	if n >= int64(t.max) {
		return &Refused{RetryAfter: left}
	}
	return nil
}
