package auth

import (
	"crypto/sha256"
	"slices"
	"sync"
	"time"

	"fiberauth/internal/store"
)

// Defaults for the API-key cache.
const (
	// DefaultKeyCacheTTL bounds how long this process trusts what it read about a key.
	// A revoke through this process drops the entry at once; a revoke by another
	// instance (or the CLI, which is another process) is seen within this bound.
	DefaultKeyCacheTTL = 5 * time.Second
	// DefaultKeyCacheSize bounds each of the cache's two maps (keys found, and digests
	// not found or no longer valid), so neither many keys nor a flood of made-up ones
	// can grow it without limit, and the flood cannot push out the real keys.
	DefaultKeyCacheSize = 10_000
)

// digest is the SHA-256 of an API key: how the store finds it, and the cache's key.
type digest [sha256.Size]byte

// keyCache remembers, for a short TTL, what the store said about a key digest: the
// key's owner and permissions, or that there is no usable key with that digest. It
// saves the SQL query on every API-key request, and makes a repeated unknown or
// revoked key as cheap to refuse as a valid one is to accept.
//
// Expiry is checked on every hit against the key's own expires_at, so a cached key
// stops working at its expiry to the nanosecond, not at the end of the TTL.
type keyCache struct {
	ttl  time.Duration
	size int

	mu sync.Mutex
	// epoch counts invalidations (revokes, creations). A miss notes it before asking
	// the store and stores its answer only if no invalidation happened meanwhile, so
	// an answer read just before a revoke cannot outlive the revoke in the cache.
	epoch   uint64
	valid   map[digest]cachedKey
	invalid map[digest]time.Time // digest -> until
	byID    map[int64]digest     // for dropping a revoked key by ID
}

// cachedKey is what a valid key proves, as read from the store.
type cachedKey struct {
	id          int64
	userID      int64
	username    string
	role        string
	permissions []string
	expiresAt   time.Time // zero: never
	until       time.Time // end of the cache entry
	generation  int64     // the owner's access generation when the key was read
	// shared are the keys of what a hit reads in the shared state: the owner's
	// generation and the key's revoke marker, made once rather than per hit.
	shared [2]string
}

// keyLookup is the cache's answer about a digest.
type keyLookup int

const (
	keyMiss    keyLookup = iota // ask the store
	keyValid                    // cached and usable now
	keyInvalid                  // cached as unknown, revoked or expired
)

func newKeyCache(ttl time.Duration, size int) *keyCache {
	return &keyCache{ttl: ttl, size: size,
		valid: map[digest]cachedKey{}, invalid: map[digest]time.Time{}, byID: map[int64]digest{}}
}

// get looks d up at now. On a miss it returns the epoch to hand back to put.
func (c *keyCache) get(d digest, now time.Time) (cachedKey, keyLookup, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k, ok := c.valid[d]; ok {
		if !now.Before(k.until) {
			c.dropLocked(d)
		} else if !k.expiresAt.IsZero() && !now.Before(k.expiresAt) {
			return cachedKey{}, keyInvalid, 0
		} else {
			return k, keyValid, 0
		}
	}
	if until, ok := c.invalid[d]; ok {
		if now.Before(until) {
			return cachedKey{}, keyInvalid, 0
		}
		delete(c.invalid, d)
	}
	return cachedKey{}, keyMiss, c.epoch
}

// put caches a key the store returned (revoked and expired ones as invalid),
// unless an invalidation happened since epoch was read.
func (c *keyCache) put(d digest, k store.APIKey, epoch uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch {
		return
	}
	if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
		c.putInvalidLocked(d, now)
		return
	}
	if _, ok := c.valid[d]; !ok && len(c.valid) >= c.size {
		for victim := range c.valid { // map order is random enough to pick a victim
			c.dropLocked(victim)
			break
		}
	}
	e := cachedKey{id: k.ID, userID: k.UserID, username: k.Username, role: k.UserRole,
		// Clipped, so that a caller appending to a principal's permissions cannot
		// write into the slice every later request shares.
		permissions: slices.Clip(k.Permissions), until: now.Add(c.ttl), generation: k.UserGeneration,
		shared: [2]string{accessKey(k.UserID), keyMarker(k.ID)}}
	if k.ExpiresAt != nil {
		e.expiresAt = *k.ExpiresAt
	}
	c.valid[d] = e
	c.byID[k.ID] = d
}

// putInvalid caches that the store has no key with digest d.
func (c *keyCache) putInvalid(d digest, epoch uint64, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch == c.epoch {
		c.putInvalidLocked(d, now)
	}
}

func (c *keyCache) putInvalidLocked(d digest, now time.Time) {
	if _, ok := c.invalid[d]; !ok && len(c.invalid) >= c.size {
		for victim := range c.invalid {
			delete(c.invalid, victim)
			break
		}
	}
	c.invalid[d] = now.Add(c.ttl)
}

// forgetID drops a key by ID, e.g. because it was just revoked.
func (c *keyCache) forgetID(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	if d, ok := c.byID[id]; ok {
		c.dropLocked(d)
	}
}

// forgetUser drops every key of a user, e.g. because their access ended.
func (c *keyCache) forgetUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for d, k := range c.valid {
		if k.userID == userID {
			c.dropLocked(d)
		}
	}
}

// forgetDigest drops what is cached about a digest, e.g. because a key with it was
// just created: a "no such key" remembered from before must not refuse it.
func (c *keyCache) forgetDigest(d digest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	c.dropLocked(d)
	delete(c.invalid, d)
}

func (c *keyCache) dropLocked(d digest) {
	if k, ok := c.valid[d]; ok {
		delete(c.valid, d)
		if c.byID[k.id] == d {
			delete(c.byID, k.id)
		}
	}
}

// forgetInvalid drops every "no such key" entry, e.g. after keys were added by seeding.
func (c *keyCache) forgetInvalid() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	clear(c.invalid)
}

// len reports the number of entries, for tests.
func (c *keyCache) len() (valid, invalid int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.valid), len(c.invalid)
}
