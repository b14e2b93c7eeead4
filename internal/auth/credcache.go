package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// credentialCache remembers Basic credentials that passed bcrypt, so a client that
// sends the same username and password on every request pays for bcrypt once per TTL.
// Entries are keyed by an HMAC under a per-process random key: the cache never holds
// a password, and its keys are useless outside this process.
type credentialCache struct {
	ttl time.Duration
	now func() time.Time
	key []byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedCredential
	byUser  map[int64]map[[sha256.Size]byte]struct{}
}

type cachedCredential struct {
	principal Principal
	expires   time.Time
}

func newCredentialCache(ttl time.Duration, now func() time.Time) *credentialCache {
	return &credentialCache{
		ttl:     ttl,
		now:     now,
		key:     []byte(rand.Text()),
		entries: map[[sha256.Size]byte]cachedCredential{},
		byUser:  map[int64]map[[sha256.Size]byte]struct{}{},
	}
}

func (c *credentialCache) mac(username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Get returns the principal of a credential verified less than TTL ago.
func (c *credentialCache) Get(username, password string) (Principal, bool) {
	if c.ttl <= 0 {
		return Principal{}, false
	}
	k := c.mac(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok {
		return Principal{}, false
	}
	if !c.now().Before(e.expires) {
		c.dropLocked(k, e.principal.UserID)
		return Principal{}, false
	}
	return e.principal, true
}

// Put remembers a verified credential.
func (c *credentialCache) Put(username, password string, p Principal) {
	if c.ttl <= 0 {
		return
	}
	k := c.mac(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[k] = cachedCredential{principal: p, expires: c.now().Add(c.ttl)}
	if c.byUser[p.UserID] == nil {
		c.byUser[p.UserID] = map[[sha256.Size]byte]struct{}{}
	}
	c.byUser[p.UserID][k] = struct{}{}
}

// ForgetUser drops every cached credential of a user, e.g. when their password changes.
func (c *credentialCache) ForgetUser(userID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.byUser[userID] {
		delete(c.entries, k)
	}
	delete(c.byUser, userID)
}

func (c *credentialCache) dropLocked(k [sha256.Size]byte, userID int64) {
	delete(c.entries, k)
	if set := c.byUser[userID]; set != nil {
		delete(set, k)
		if len(set) == 0 {
			delete(c.byUser, userID)
		}
	}
}

// DefaultCredentialTTL is how long a verified Basic credential is trusted before
// bcrypt runs again. A changed password drops the user's entries at once; the TTL
// bounds everything else (e.g. a user deleted directly in the database).
const DefaultCredentialTTL = time.Minute
