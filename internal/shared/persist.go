package shared

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// persistence keeps a Memory's state across a restart, for development only: air
// restarts the server after every .go edit, and without it each restart would log
// the developer out. The file holds live session IDs, so it is written 0600, and
// the service turns it on only with APP_ENV=development and no Redis.
type persistence struct {
	path string

	mu      sync.Mutex
	expires map[string]int64 // key -> unix ns when it expires; 0: never
}

// savedEntry is one key in the file.
type savedEntry struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Expires int64  `json:"expires,omitempty"` // unix ns; 0: never
}

// Persist loads the state saved at path, if any (skipping what has expired since),
// and makes Close save it there again. Call it before the Memory is used.
func (m *Memory) Persist(path string) error {
	p := &persistence{path: path, expires: map[string]int64{}}
	m.persist = p
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("shared: reading %s: %w", path, err)
	}
	var entries []savedEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		// A file we cannot read is only a lost login: start empty, say so.
		return fmt.Errorf("shared: %s is not a saved state (ignored): %w", path, err)
	}
	now := m.now().UnixNano()
	for _, e := range entries {
		var exp time.Duration
		if e.Expires != 0 {
			if exp = time.Duration(e.Expires - now); exp <= 0 {
				continue
			}
			exp = ttl(exp)
		}
		if err := m.set(e.Key, e.Value, exp); err != nil {
			return err
		}
	}
	return nil
}

// Close saves the state when Persist was called, then stops the storage.
func (m *Memory) Close() error {
	var err error
	if m.persist != nil {
		err = m.save()
	}
	return errors.Join(err, m.Storage.Close())
}

// save writes every live key with its expiry, atomically (a new file renamed over
// the old), readable by this user only.
func (m *Memory) save() error {
	p := m.persist
	m.mu.Lock() // no compound operation half done
	defer m.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := m.now().UnixNano()
	entries := []savedEntry{}
	for key, exp := range p.expires {
		if exp != 0 && exp <= now {
			continue
		}
		v, err := m.Storage.Get(key)
		if err != nil {
			return err
		}
		if v != nil {
			entries = append(entries, savedEntry{Key: key, Value: v, Expires: exp})
		}
	}
	raw, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.path), 0o700); err != nil {
		return err
	}
	tmp := p.path + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p.path)
}

// Set stores a value (Fiber's sessions write through it).
func (m *Memory) Set(key string, val []byte, exp time.Duration) error { return m.set(key, val, exp) }

// set writes key, and notes its expiry when the state is persisted.
func (m *Memory) set(key string, val []byte, exp time.Duration) error {
	if err := m.Storage.Set(key, val, exp); err != nil {
		return err
	}
	if p := m.persist; p != nil && key != "" && len(val) > 0 {
		var at int64
		if exp != 0 {
			at = m.now().Add(exp).UnixNano()
		}
		p.mu.Lock()
		p.expires[key] = at
		p.mu.Unlock()
	}
	return nil
}

// del deletes key, and forgets its expiry.
func (m *Memory) del(key string) error {
	if p := m.persist; p != nil {
		p.mu.Lock()
		delete(p.expires, key)
		p.mu.Unlock()
	}
	return m.Storage.Delete(key)
}
