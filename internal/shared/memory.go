package shared

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/storage/memory/v2"
)

// Memory is the Store of a single process: Fiber's memory storage, with every
// compound operation under one lock. It keeps its values in that storage too, so
// they expire with it.
type Memory struct {
	*memory.Storage
	now func() time.Time

	mu sync.Mutex // serialises the compound operations

	// persist is set in development only (Persist): the file the state is saved
	// to at Close, with each key's expiry, which Fiber's storage does not tell.
	persist *persistence
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process Store. now is its clock (time.Now when nil).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{Storage: memory.New(), now: now}
}

// ttl rounds d up to the whole seconds the memory storage counts in, so nothing
// expires before its time.
func ttl(d time.Duration) time.Duration {
	return max(d.Truncate(time.Second)+time.Second, time.Second)
}

// counter is a count and the end of its window (unix nanoseconds).
type counter struct{ n, end int64 }

func (m *Memory) loadCounter(key string, now time.Time) (counter, error) {
	raw, err := m.Storage.Get(key)
	if err != nil || len(raw) != 16 {
		return counter{}, err
	}
	c := counter{n: int64(binary.BigEndian.Uint64(raw)), end: int64(binary.BigEndian.Uint64(raw[8:]))}
	if now.UnixNano() >= c.end {
		return counter{}, nil
	}
	return c, nil
}

func (m *Memory) saveCounter(key string, c counter, now time.Time) error {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:], uint64(c.n))
	binary.BigEndian.PutUint64(raw[8:], uint64(c.end))
	return m.set(key, raw[:], ttl(time.Duration(c.end-now.UnixNano())))
}

// incr adds one to a counter, starting its window if it has none.
func (m *Memory) incr(key string, window time.Duration, now time.Time) (counter, error) {
	c, err := m.loadCounter(key, now)
	if err != nil {
		return counter{}, err
	}
	if c.n == 0 {
		c.end = now.Add(window).UnixNano()
	}
	c.n++
	return c, m.saveCounter(key, c, now)
}

func (m *Memory) Count(key string, window time.Duration) (int64, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	c, err := m.incr(key, window, now)
	return c.n, time.Duration(c.end - now.UnixNano()), err
}

func (m *Memory) Raise(key string, v int64, exp time.Duration) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	raw, err := m.Storage.Get(key)
	if err != nil {
		return 0, err
	}
	if cur, err := strconv.ParseInt(string(raw), 10, 64); err == nil && cur >= v {
		return cur, nil
	}
	return v, m.set(key, []byte(strconv.FormatInt(v, 10)), exp)
}

func (m *Memory) Replace(key string, val []byte, exp time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, err := m.Storage.Get(key); err != nil || cur == nil {
		return false, err
	}
	return true, m.set(key, val, exp)
}

func (m *Memory) Claim(key string, exp time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, err := m.Storage.Get(key); err != nil || cur != nil {
		return false, err
	}
	return true, m.Storage.Set(key, []byte{1}, ttl(exp))
}

// Delete deletes under the lock of the compound operations, so that none of them
// (Replace) can write back a key deleted half way through it.
func (m *Memory) Delete(key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.del(key)
}

func (m *Memory) GetMany(keys ...string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, err := m.Storage.Get(k)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// flights is the in-flight set of an Attempt: member ID -> lease deadline (unix ns).
type flights map[string]int64

func (m *Memory) loadFlights(key string, now time.Time) (flights, error) {
	raw, err := m.Storage.Get(key)
	if err != nil {
		return nil, err
	}
	f := flights{}
	for _, item := range strings.Fields(string(raw)) {
		id, deadline, _ := strings.Cut(item, "@")
		if d, err := strconv.ParseInt(deadline, 10, 64); err == nil && d > now.UnixNano() {
			f[id] = d
		}
	}
	return f, nil
}

func (m *Memory) saveFlights(key string, f flights, lease time.Duration) error {
	if len(f) == 0 {
		return m.del(key)
	}
	var b strings.Builder
	for id, d := range f {
		b.WriteString(id + "@" + strconv.FormatInt(d, 10) + " ")
	}
	return m.set(key, []byte(b.String()), ttl(lease))
}

func (m *Memory) BeginAttempt(a Attempt) (AttemptResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.loadCounter(a.Failures, a.Now)
	if err != nil {
		return AttemptResult{}, err
	}
	if c.n >= int64(a.Max) {
		return AttemptResult{Outcome: Blocked, RetryAfter: time.Duration(c.end - a.Now.UnixNano())}, nil
	}
	f, err := m.loadFlights(a.InFlight, a.Now)
	if err != nil {
		return AttemptResult{}, err
	}
	if c.n+int64(len(f)) >= int64(a.Max) {
		return AttemptResult{Outcome: Busy}, nil
	}
	f[a.ID] = a.Now.Add(a.Lease).UnixNano()
	return AttemptResult{Outcome: Admitted}, m.saveFlights(a.InFlight, f, a.Lease)
}

func (m *Memory) EndAttempt(a Attempt, failed bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, err := m.loadFlights(a.InFlight, a.Now)
	if err != nil {
		return err
	}
	delete(f, a.ID)
	if err := m.saveFlights(a.InFlight, f, a.Lease); err != nil {
		return err
	}
	if failed {
		_, err = m.incr(a.Failures, a.Window, a.Now)
	}
	return err
}

func (m *Memory) Failures(a Attempt) (int64, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := m.loadCounter(a.Failures, a.Now)
	return c.n, time.Duration(c.end - a.Now.UnixNano()), err
}

// indexEntry is a member of an index and its time (unix nanoseconds).
type indexEntry struct {
	member string
	at     int64
}

// index is an index's members and when the index itself expires (unix ns, 0 for
// never): removals keep that deadline, additions push it out.
type index struct {
	entries []indexEntry
	expires int64
}

func (m *Memory) loadIndex(key string) (index, error) {
	raw, err := m.Storage.Get(key)
	if err != nil {
		return index{}, err
	}
	var ix index
	for i, item := range strings.Fields(string(raw)) {
		member, at, _ := strings.Cut(item, "@")
		n, _ := strconv.ParseInt(at, 10, 64)
		if i == 0 {
			ix.expires = n // the first item is "expires@<deadline>"
			continue
		}
		ix.entries = append(ix.entries, indexEntry{member: member, at: n})
	}
	slices.SortStableFunc(ix.entries, func(a, b indexEntry) int { return cmp.Compare(a.at, b.at) })
	return ix, nil
}

func (m *Memory) saveIndex(key string, ix index) error {
	if len(ix.entries) == 0 {
		return m.del(key)
	}
	var b strings.Builder
	b.WriteString("expires@" + strconv.FormatInt(ix.expires, 10) + " ")
	for _, e := range ix.entries {
		b.WriteString(e.member + "@" + strconv.FormatInt(e.at, 10) + " ")
	}
	var exp time.Duration
	if ix.expires != 0 {
		exp = ttl(time.Duration(ix.expires - m.now().UnixNano()))
	}
	return m.set(key, []byte(b.String()), exp)
}

func (m *Memory) AddToIndex(key, member string, at time.Time, limit int, exp time.Duration) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.loadIndex(key)
	if err != nil {
		return nil, err
	}
	live := []indexEntry{}
	for _, e := range ix.entries {
		if e.member == member {
			continue
		}
		if v, err := m.Storage.Get(e.member); err == nil && v != nil {
			live = append(live, e)
		}
	}
	// The newest member always sorts last, even when clocks tie or disagree.
	newest := at.UnixMicro()
	if n := len(live); n > 0 && live[n-1].at >= newest {
		newest = live[n-1].at + 1
	}
	live = append(live, indexEntry{member: member, at: newest})
	var evicted []string
	for len(live) > limit {
		evicted = append(evicted, live[0].member)
		if err := m.del(live[0].member); err != nil {
			return nil, err
		}
		live = live[1:]
	}
	return evicted, m.saveIndex(key, index{entries: live, expires: m.now().Add(exp).UnixNano()})
}

func (m *Memory) RemoveFromIndex(key string, members ...string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.loadIndex(key)
	if err != nil {
		return err
	}
	ix.entries = slices.DeleteFunc(ix.entries, func(e indexEntry) bool { return slices.Contains(members, e.member) })
	return m.saveIndex(key, ix)
}

func (m *Memory) Index(key string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ix, err := m.loadIndex(key)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ix.entries))
	for i, e := range ix.entries {
		out[i] = e.member
	}
	return out, nil
}
