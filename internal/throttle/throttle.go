// Package throttle counts failed logins per key (username and client IP) in the
// session/limiter storage, so that with Redis the count is shared by every instance.
//
// Fiber's limiter with SkipSuccessfulRequests cannot do this job: it counts every
// request while it is in flight and gives the count back only after a success, so
// a client with more than Max requests in flight at once is refused although none
// failed, and a refused request is never given back — a legitimate client with a
// few parallel connections on a cold cache locks itself out for the whole window.
//
// A throttle here separates the things a failed-login limit needs:
//   - a credential that may be a guess reserves one of the key's Max attempts before
//     it is checked (so a burst of parallel guesses gets Max, not as many as it can
//     send), and gives it back if it was right;
//   - a request repeating a credential whose check is in flight for the same key
//     reserves nothing: it gets the same answer (the password check is shared), so
//     it tests nothing new. Once that first request ends, a repeat reserves again,
//     so repeating a wrong password still uses the attempts up;
//   - a credential already known to be right (the caller says so) reserves nothing,
//     so any number of them may be in flight.
//
// Every request is refused while its key is blocked. A refused attempt is not
// counted: it was never tried. The window is fixed and starts at the first counted
// attempt.
package throttle

import (
	"encoding/binary"
	"sync"
	"time"
)

// Storage is the part of fiber.Storage the throttle uses.
type Storage interface {
	Get(key string) ([]byte, error)
	Set(key string, val []byte, exp time.Duration) error
}

// Throttle limits attempts per key to Max per Window.
type Throttle struct {
	storage Storage
	max     int
	window  time.Duration
	now     func() time.Time

	// mu serialises this process's read-modify-write of a counter. Like Fiber's
	// limiter, it cannot make the update atomic across instances sharing Redis: two
	// instances may each let one more attempt through at the same moment.
	mu sync.Mutex

	flightMu sync.Mutex
	inFlight map[string]struct{} // key + credential digest of the attempts being checked
}

// New returns a throttle allowing max attempts per key per window. now is the
// clock (time.Now when nil).
func New(storage Storage, max int, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{storage: storage, max: max, window: window, now: now, inFlight: map[string]struct{}{}}
}

// Attempt is one request's claim on a key, from Begin; End it when its answer is known.
type Attempt struct {
	t      *Throttle
	key    string
	flight string // set when this request reserved for a credential others may share
	counts bool   // whether this request took one of the key's attempts
}

// Begin starts a request's login attempt for key. credential identifies what it
// carries (a digest, never the secret itself), or is "" when requests cannot share a
// check. ok is false when the key is blocked (retryAfter says for how long).
func (t *Throttle) Begin(key, credential string) (a Attempt, ok bool, retryAfter time.Duration, err error) {
	a = Attempt{t: t, key: key}
	if credential != "" {
		flight := key + "\x00" + credential
		t.flightMu.Lock()
		_, shared := t.inFlight[flight]
		if !shared {
			// Claimed before reserving, so that repeats arriving meanwhile share it.
			t.inFlight[flight] = struct{}{}
			a.flight = flight
		}
		t.flightMu.Unlock()
		if shared {
			blocked, retry, err := t.blocked(key)
			return a, err == nil && !blocked, retry, err
		}
	}
	ok, retryAfter, err = t.reserve(key)
	if !ok || err != nil {
		a.End(false)
		return Attempt{}, false, retryAfter, err
	}
	a.counts = true
	return a, true, 0, nil
}

// Known starts a request whose credential cannot be a guess: it takes no attempt,
// but is refused while key is blocked like any other.
func (t *Throttle) Known(key string) (ok bool, retryAfter time.Duration, err error) {
	blocked, retryAfter, err := t.blocked(key)
	return err == nil && !blocked, retryAfter, err
}

// End records the answer: a success gives its attempt back, a failure keeps it.
func (a Attempt) End(succeeded bool) error {
	if a.flight != "" {
		a.t.flightMu.Lock()
		delete(a.t.inFlight, a.flight)
		a.t.flightMu.Unlock()
	}
	if a.counts && succeeded {
		return a.t.release(a.key)
	}
	return nil
}

// counter is a key's attempts in its current window.
type counter struct {
	attempts int64
	end      int64 // unix nanoseconds
}

// reserve takes one of key's attempts. ok is false when none is left (then
// retryAfter says when the window ends); otherwise call release if the attempt
// succeeded, and nothing if it failed.
func (t *Throttle) reserve(key string) (ok bool, retryAfter time.Duration, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	c, err := t.load(key, now)
	if err != nil {
		return false, 0, err
	}
	if c.attempts >= int64(t.max) {
		return false, time.Duration(c.end - now.UnixNano()), nil
	}
	if c.attempts == 0 {
		c.end = now.Add(t.window).UnixNano()
	}
	c.attempts++
	return true, 0, t.save(key, c, now)
}

// release gives back an attempt reserved by reserve that succeeded.
func (t *Throttle) release(key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	c, err := t.load(key, now)
	if err != nil || c.attempts == 0 {
		return err
	}
	c.attempts--
	return t.save(key, c, now)
}

// blocked reports whether key has no attempts left, and until when, without
// taking one: for credentials that cannot be guesses.
func (t *Throttle) blocked(key string) (blocked bool, retryAfter time.Duration, err error) {
	now := t.now()
	c, err := t.load(key, now)
	if err != nil || c.attempts < int64(t.max) {
		return false, 0, err
	}
	return true, time.Duration(c.end - now.UnixNano()), nil
}

// load reads key's counter; an absent or ended window reads as zero attempts.
func (t *Throttle) load(key string, now time.Time) (counter, error) {
	raw, err := t.storage.Get(key)
	if err != nil || len(raw) != 16 {
		return counter{}, err
	}
	c := counter{attempts: int64(binary.BigEndian.Uint64(raw)), end: int64(binary.BigEndian.Uint64(raw[8:]))}
	if now.UnixNano() >= c.end {
		return counter{}, nil
	}
	return c, nil
}

// save writes key's counter to live until its window ends (storages count whole
// seconds, so rounded up).
func (t *Throttle) save(key string, c counter, now time.Time) error {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:], uint64(c.attempts))
	binary.BigEndian.PutUint64(raw[8:], uint64(c.end))
	ttl := time.Duration(c.end-now.UnixNano()).Truncate(time.Second) + time.Second
	return t.storage.Set(key, raw[:], ttl)
}
