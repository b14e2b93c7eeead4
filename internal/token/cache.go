package token

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers access tokens whose signature and claims passed, keyed
// by the token's SHA-256, until they expire: a client repeating its token pays for
// the signature check once. What can end a token before it expires (the user's
// generation, the family's marker) is not cached; Verify reads it on every use.
type verifiedCache struct {
	size    int
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	p      *Principal
	exp    time.Time
	marker string // FamilyMarker(p.SID), made once
}

func newVerifiedCache(size int) *verifiedCache {
	return &verifiedCache{size: size, entries: map[[sha256.Size]byte]cachedToken{}}
}

func (c *verifiedCache) get(k [sha256.Size]byte, now time.Time) (cachedToken, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return cachedToken{}, false
	}
	if !now.Before(e.exp) {
		delete(c.entries, k)
		return cachedToken{}, false
	}
	return e, true
}

func (c *verifiedCache) put(k [sha256.Size]byte, e cachedToken) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.size {
		for victim := range c.entries { // map order is random enough to pick a victim
			delete(c.entries, victim)
			break
		}
	}
	c.entries[k] = e
}

func (c *verifiedCache) drop(k [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, k)
}
