package sessions

import (
	"bytes"
	"encoding/gob"
	"sync"
)

// defaultViewCacheSize bounds the decoded sessions a process keeps: about 350 bytes
// each, for the sessions in active use on this instance.
const defaultViewCacheSize = 10_000

// view is what Current needs from a session's stored data.
type view struct {
	loggedIn bool
	userID   int64
	username string
	role     string
	loginAt  int64 // unix seconds
	lastSeen int64 // unix seconds
	// generation is the user's access generation at login (0 for a session made
	// before generations existed, void once the user's access has ended once).
	generation int64
	// For the sessions page.
	handle, method, clientIP, userAgent string
}

// viewCache remembers the decoding of a session's stored bytes. Fiber's session
// decodes them with a new gob.Decoder on every request, which compiles the map's
// decoder each time and dominated an authenticated request's profile. An entry is
// used only when the bytes read from the storage are exactly the ones it was decoded
// from, so the cache can never say anything the storage no longer says.
type viewCache struct {
	size int

	mu      sync.Mutex
	entries map[string]viewEntry // session ID -> decoding
}

type viewEntry struct {
	raw  []byte
	view view
}

func newViewCache(size int) *viewCache {
	return &viewCache{size: size, entries: map[string]viewEntry{}}
}

// get returns the view of raw, the stored data of session id, decoding it only if
// it differs from what was decoded last time.
func (c *viewCache) get(id string, raw []byte) (view, error) {
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && bytes.Equal(e.raw, raw) {
		return e.view, nil
	}
	v, err := decodeView(raw)
	if err != nil {
		return view{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[id]; !ok && len(c.entries) >= c.size {
		for victim := range c.entries { // map order is random enough to pick a victim
			delete(c.entries, victim)
			break
		}
	}
	// id may point into the request's buffer and raw is ours (the storage returns a
	// copy), so only the ID needs copying before it is kept.
	c.entries[string([]byte(id))] = viewEntry{raw: raw, view: v}
	return v, nil
}

// drop forgets a session, e.g. because it ended.
func (c *viewCache) drop(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}

func (c *viewCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// decodeView reads the format Fiber's session stores: a gob-encoded
// map[string]interface{} (middleware/session, Session.Save).
func decodeView(raw []byte) (view, error) {
	var data map[string]any
	if err := gob.NewDecoder(bytes.NewReader(raw)).Decode(&data); err != nil {
		return view{}, err
	}
	var v view
	var hasUser, hasLogin bool
	v.userID, hasUser = data[keyUserID].(int64)
	v.loginAt, hasLogin = data[keyLoginAt].(int64)
	v.loggedIn = hasUser && hasLogin
	v.lastSeen, _ = data[keyLastSeen].(int64)
	v.generation, _ = data[keyGeneration].(int64)
	v.handle, _ = data[keyHandle].(string)
	v.method, _ = data[keyMethod].(string)
	v.clientIP, _ = data[keyClientIP].(string)
	v.userAgent, _ = data[keyUserAgent].(string)
	v.username, _ = data[keyUsername].(string)
	v.role, _ = data[keyRole].(string)
	return v, nil
}
