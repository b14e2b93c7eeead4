package auth

import (
	"strconv"
	"time"
)

// SharedStore is the part of the shared state (internal/shared) the identity
// service uses: Redis when REDIS_URL is set (every instance, and the admin CLI, see
// the same), else this process's memory.
type SharedStore interface {
	Get(key string) ([]byte, error)
	Set(key string, val []byte, exp time.Duration) error
	GetMany(keys ...string) ([][]byte, error)
	Raise(key string, v int64, ttl time.Duration) (int64, error)
}

// A revoked key leaves a marker in the shared state, so that another instance's
// cache stops trusting it on its very next use rather than when its entry expires.
// (A user's access generation, access.go, covers everything of one user at once; a
// marker covers one key.) A marker only needs to outlive the cache entries it
// outdates, but it is kept much longer so that a lookup racing the revoke cannot
// outlive it; and since a Redis that restarted empty loses markers, a cache hit
// also needs the owner's generation present (see VerifyAPIKey).
func keyMarker(keyID int64) string { return "auth:key-revoked:" + strconv.FormatInt(keyID, 10) }

// keyMarkerTTL is how long a revoke marker stays.
const keyMarkerTTL = time.Hour
