package auth

import (
	"crypto/rand"
	"strconv"
	"strings"
	"time"
)

// SharedStore is the part of fiber.Storage the caches use to hear about revokes and
// password changes made by other instances: Redis when REDIS_URL is set (every
// instance, and the admin CLI, see the same), else this process's memory.
type SharedStore interface {
	Get(key string) ([]byte, error)
	Set(key string, val []byte, exp time.Duration) error
}

// markers are what a revoke or a password change leaves in the SharedStore for every
// instance's caches. A cache hit reads its marker (one storage read, no SQL, no
// bcrypt) and is not trusted when the marker says something changed since the entry
// was made, so another instance's revoke or password change counts on its very next
// request rather than when the entry's TTL runs out. A marker only needs to outlive
// the entries it outdates, so it lives twice the cache's TTL.
//
// Without a SharedStore (a Service built without one) only this process's own
// changes count at once.
type markers struct {
	store  SharedStore
	keyTTL time.Duration
	pwTTL  time.Duration
}

func keyMarker(keyID int64) string { return "auth:key-revoked:" + strconv.FormatInt(keyID, 10) }

// passwordMarker is keyed by username, not ID, because a verification must read it
// before it looks the user up (see passwordVersion).
func passwordMarker(username string) string {
	return "auth:password-changed:" + strings.ToLower(username)
}

// keyRevoked reports whether a revoke was announced under marker (keyMarker of the
// key's ID, made once per cache entry). A store that does not answer counts as yes:
// the caller then asks the database, which knows.
func (m markers) keyRevoked(marker string) bool {
	if m.store == nil {
		return false
	}
	v, err := m.store.Get(marker)
	return err != nil || v != nil
}

// announceRevoke tells every instance that the key of marker (keyMarker) was revoked.
func (m markers) announceRevoke(marker string) error {
	if m.store == nil {
		return nil
	}
	return m.store.Set(marker, []byte{1}, max(2*m.keyTTL, time.Minute))
}

// passwordVersion is what marker (passwordMarker of the username) holds: the user's
// last announced password change ("" for none lately). A verification reads it before reading the hash and keeps it with its
// cache entry; a hit whose version is no longer current is stale. ok is false when
// the store does not answer: then nothing is cached or trusted.
func (m markers) passwordVersion(marker string) (version string, ok bool) {
	if m.store == nil {
		return "", true
	}
	v, err := m.store.Get(marker)
	return string(v), err == nil
}

// announcePasswordChange tells every instance that the password of marker's user
// (passwordMarker) changed.
func (m markers) announcePasswordChange(marker string) error {
	if m.store == nil {
		return nil
	}
	return m.store.Set(marker, []byte(rand.Text()), max(2*m.pwTTL, time.Minute))
}
