package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"hash"
	"sync"
	"time"
)

// DefaultCredentialTTL is how long a verified Basic credential is trusted before
// bcrypt runs again. A password change anywhere voids the user's entries at once
// (their access generation moves on); the TTL bounds what the generation does not
// see, such as a hash replaced directly in the database.
const DefaultCredentialTTL = time.Minute

// DefaultCredentialCacheSize bounds the number of cached credentials. Only
// credentials that passed bcrypt get in, so reaching it takes that many users (or
// passwords) verified within one TTL.
const DefaultCredentialCacheSize = 100_000

// credentialCache remembers Basic credentials that passed bcrypt, so a client that
// sends the same username and password on every request pays for bcrypt once per TTL.
// Entries are keyed by an HMAC under a per-process random key: the cache never holds
// a password, and its keys are useless outside this process.
type credentialCache struct {
	ttl  time.Duration
	size int
	now  func() time.Time
	// macs holds HMAC states keyed with the process key: making one costs more
	// than the rest of a cache hit, and Reset brings one back to the keyed start.
	macs sync.Pool

	mu sync.Mutex
	// An entry's principal carries the access generation of the row its password
	// was checked against; a hit is trusted only while that is still the user's
	// (Service.cachedPassword), so a check of the old password that finishes after
	// a change cannot re-admit it.
	entries map[credKey]cachedCredential
	byUser  map[int64]map[credKey]struct{}
}

type credKey [sha256.Size]byte

type cachedCredential struct {
	principal Principal
	expires   time.Time
}

func newCredentialCache(ttl time.Duration, now func() time.Time) *credentialCache {
	key := []byte(rand.Text())
	return &credentialCache{
		ttl:     ttl,
		size:    DefaultCredentialCacheSize,
		now:     now,
		macs:    sync.Pool{New: func() any { return hmac.New(sha256.New, key) }},
		entries: map[credKey]cachedCredential{},
		byUser:  map[int64]map[credKey]struct{}{},
	}
}

func (c *credentialCache) mac(username, password string) credKey {
	m := c.macs.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out credKey
	m.Sum(out[:0])
	c.macs.Put(m)
	return out
}

// Get returns a credential verified less than TTL ago.
func (c *credentialCache) Get(k credKey) (cachedCredential, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if ok && c.now().Before(e.expires) {
		return e, true
	}
	if ok {
		c.dropLocked(k, e.principal.UserID)
	}
	return cachedCredential{}, false
}

// Put remembers a verified credential.
func (c *credentialCache) Put(k credKey, p Principal) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.size {
		for victim, e := range c.entries { // map order is random enough to pick a victim
			c.dropLocked(victim, e.principal.UserID)
			break
		}
	}
	c.entries[k] = cachedCredential{principal: p, expires: c.now().Add(c.ttl)}
	if c.byUser[p.UserID] == nil {
		c.byUser[p.UserID] = map[credKey]struct{}{}
	}
	c.byUser[p.UserID][k] = struct{}{}
}

// Drop forgets one credential, e.g. one outdated by another instance's change.
func (c *credentialCache) Drop(k credKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; ok {
		c.dropLocked(k, e.principal.UserID)
	}
}

// ForgetUser drops every cached credential of a user, e.g. when their access ends
// (their generation would void them anyway; this frees the memory at once).
func (c *credentialCache) ForgetUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.byUser[userID] {
		delete(c.entries, k)
	}
	delete(c.byUser, userID)
}

func (c *credentialCache) dropLocked(k credKey, userID int64) {
	delete(c.entries, k)
	if set := c.byUser[userID]; set != nil {
		delete(set, k)
		if len(set) == 0 {
			delete(c.byUser, userID)
		}
	}
}

// len reports the number of entries, for tests.
func (c *credentialCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
