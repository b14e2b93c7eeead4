// Package sessions keeps server-side login sessions on top of Fiber's session
// middleware: it adds what v2 lacks (an absolute timeout, and a user -> sessions index
// so that a user's other sessions can be ended) and hides the storage from handlers.
package sessions

import (
	"context"
	"crypto/rand"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/shared"
)

// Keys of the values a logged-in session holds.
const (
	keyUserID   = "uid"
	keyUsername = "username"
	keyRole     = "role"
	keyLoginAt  = "login_at"  // unix seconds; the absolute timeout counts from here
	keyLastSeen = "last_seen" // unix seconds; the idle timeout counts from here
	// keyGeneration is the user's access generation at login: the session is void
	// once the user's access ends (auth's EndAccess moves the generation on).
	keyGeneration = "gen"
	// What the sessions page shows of a session besides its times.
	keyHandle    = "handle" // its public name: random, neither the cookie value nor derived from it
	keyMethod    = "method" // how it logged in, e.g. "password"
	keyClientIP  = "ip"     // the client's address at login
	keyUserAgent = "ua"     // the browser's User-Agent at login, cut to maxUserAgent bytes
)

// maxUserAgent bounds the User-Agent kept with a session: it is client input.
const maxUserAgent = 256

// Login is what a login knows of how and from where it happened, kept with the
// session for the user's list of their sessions.
type Login struct {
	Method    string // e.g. "password"
	ClientIP  string
	UserAgent string
}

// CookieName is the session cookie. It carries only a random ID.
const CookieName = "session_id"

// newID makes a session ID: 26 base32 characters from crypto/rand, 130 bits
// (ASVS 5.0 7.2.3 asks for at least 128; Fiber's default UUIDv4 has 122).
func newID() string { return rand.Text() }

// validID matches the IDs newID makes. A cookie of any other
// shape is ignored before it is used as a storage key: the storage also holds rate
// counters and indexes, which a crafted cookie must never read, decode or delete.
var validID = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// DropForeignCookie removes a session cookie that is not one of our IDs from the
// request, so that neither this package nor Fiber's session or CSRF middleware
// looks it up. Mount it before anything that reads the session.
func DropForeignCookie(c *fiber.Ctx) error {
	if id := c.Cookies(CookieName); id != "" && !validID.MatchString(id) {
		c.Request().Header.DelCookie(CookieName)
	}
	return c.Next()
}

// Config sets timeouts and cookie attributes.
type Config struct {
	IdleTimeout     time.Duration
	AbsoluteTimeout time.Duration
	// TouchInterval is how often a session's use is written back: a request less
	// than this after the last recorded use only reads the session. The idle timeout
	// counts from the last recorded use, so a session ends between IdleTimeout minus
	// TouchInterval and IdleTimeout after its last request — never later. Zero means
	// IdleTimeout/60 (30s for the default 30m); it is never less than a second, the
	// resolution uses are recorded at.
	TouchInterval time.Duration
	Secure        bool             // the cookie's Secure flag (production)
	Now           func() time.Time // for tests
}

// Generations tells a user's current access generation (auth.Service does): a
// session stamped with an earlier one is void.
type Generations interface {
	AccessGeneration(ctx context.Context, userID int64) (int64, error)
}

// Manager starts, reads and ends sessions.
type Manager struct {
	store   *session.Store
	storage shared.Store
	access  Generations
	cfg     Config
	views   *viewCache
}

// Info is what a logged-in session knows about its user.
type Info struct {
	ID        string
	UserID    int64
	Username  string
	Role      string
	LoginAt   time.Time
	ExpiresAt time.Time // the earlier of the idle and the absolute deadline
	// Generation is the user's access generation the session was granted under.
	Generation int64
	// Method is how the session logged in (Login.Method), e.g. "password" or "passkey".
	Method string
}

// NewManager builds a Manager over storage, shared with other instances when it is
// Redis; access says when a user's sessions have all been ended.
func NewManager(storage shared.Store, access Generations, cfg Config) *Manager {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TouchInterval == 0 {
		cfg.TouchInterval = cfg.IdleTimeout / 60
	}
	cfg.TouchInterval = max(cfg.TouchInterval.Truncate(time.Second), time.Second)
	st := session.New(session.Config{
		Storage:        existingOnly{storage},
		KeyGenerator:   newID,
		Expiration:     cfg.IdleTimeout,
		KeyLookup:      "cookie:" + CookieName,
		CookieHTTPOnly: true,
		CookieSecure:   cfg.Secure,
		CookieSameSite: "Lax",
		CookiePath:     "/",
	})
	return &Manager{store: st, storage: storage, access: access, cfg: cfg, views: newViewCache(defaultViewCacheSize)}
}

// Store is Fiber's session store, for middleware that binds to sessions (CSRF).
func (m *Manager) Store() *session.Store { return m.store }

// Start logs p in: the old session (and its ID) is discarded so an ID planted before
// login is worthless after it.
func (m *Manager) Start(c *fiber.Ctx, p auth.Principal, login Login) (Info, error) {
	sess, err := m.store.Get(c)
	if err != nil {
		return Info{}, storageErr(err)
	}
	if err := sess.Reset(); err != nil {
		return Info{}, storageErr(err)
	}
	now := m.cfg.Now()
	// Fiber's session writes only sessions that exist (existingOnly): this is the
	// one place a session comes into existence.
	if err := m.storage.Set(sess.ID(), []byte("new"), m.cfg.IdleTimeout); err != nil {
		return Info{}, storageErr(err)
	}
	sess.Set(keyUserID, p.UserID)
	sess.Set(keyUsername, p.Username)
	sess.Set(keyRole, p.Role)
	sess.Set(keyLoginAt, now.Unix())
	sess.Set(keyLastSeen, now.Unix())
	sess.Set(keyGeneration, p.Generation)
	sess.Set(keyHandle, strings.ToLower(rand.Text()[:16]))
	sess.Set(keyMethod, login.Method)
	sess.Set(keyClientIP, login.ClientIP)
	sess.Set(keyUserAgent, truncateUTF8(login.UserAgent, maxUserAgent))
	info := Info{ID: sess.ID(), UserID: p.UserID, Username: p.Username, Role: p.Role, LoginAt: time.Unix(now.Unix(), 0),
		Generation: p.Generation, Method: login.Method}
	info.ExpiresAt = m.expiry(info.LoginAt, now)
	sess.SetExpiry(info.ExpiresAt.Sub(now))
	if err := sess.Save(); err != nil {
		return Info{}, storageErr(err)
	}
	// One atomic step adds it to the user's index and ends the oldest beyond the
	// limit, so that logins racing on several instances cannot pass it.
	evicted, err := m.storage.AddToIndex(indexKey(p.UserID), info.ID, now, MaxSessionsPerUser, m.cfg.AbsoluteTimeout)
	if err != nil {
		return Info{}, storageErr(err)
	}
	for _, id := range evicted {
		m.views.drop(id)
	}
	return info, nil
}

// Current returns the logged-in session of the request, recording its use so that
// the idle deadline slides (at most once per TouchInterval: see Config).
// ok is false when there is none (never logged in, logged out, or timed out).
//
// The session is read from the storage on every call, so a logout or an expiry on
// another instance counts at once. Only the decoding is cached (viewCache), keyed
// by the exact bytes read, and only a request that records a use goes through
// Fiber's session (decode, encode, write).
func (m *Manager) Current(c *fiber.Ctx) (info Info, ok bool, err error) {
	id := c.Cookies(CookieName) // valid only during the request: cloned before it is kept
	if id == "" {
		return Info{}, false, nil
	}
	raw, err := m.storage.Get(id)
	if err != nil {
		return Info{}, false, storageErr(err)
	}
	if raw == nil {
		m.views.drop(id)
		return Info{}, false, nil
	}
	v, err := m.views.get(id, raw)
	if err != nil || !v.loggedIn {
		// Data we cannot read is no login; Fiber's session would refuse it too.
		return Info{}, false, nil
	}
	// A session granted before the user's access last ended is void, on every
	// instance, from the moment the end returned.
	current, err := m.access.AccessGeneration(c.UserContext(), v.userID)
	if err != nil {
		return Info{}, false, err
	}
	now := m.cfg.Now()
	if v.generation < current {
		return Info{}, false, m.endStored(v.userID, id)
	}
	info = Info{ID: strings.Clone(id), UserID: v.userID, Username: v.username, Role: v.role, LoginAt: time.Unix(v.loginAt, 0),
		Generation: v.generation, Method: v.method}
	lastSeen := time.Unix(v.lastSeen, 0)
	// The storage's TTL ends idle sessions too, but only to the second and on its own
	// clock; checking here makes both deadlines exact and testable.
	idleOver := !now.Before(lastSeen.Add(m.cfg.IdleTimeout))
	absoluteOver := !now.Before(info.LoginAt.Add(m.cfg.AbsoluteTimeout))
	if idleOver || absoluteOver {
		return Info{}, false, m.endStored(v.userID, strings.Clone(id))
	}
	if now.Sub(lastSeen) < m.cfg.TouchInterval {
		info.ExpiresAt = m.expiry(info.LoginAt, lastSeen)
		return info, true, nil
	}
	sess, err := m.store.Get(c)
	if err != nil {
		return Info{}, false, storageErr(err)
	}
	if uid, _ := sess.Get(keyUserID).(int64); uid != v.userID || sess.Fresh() {
		return Info{}, false, nil // ended by another request since we read it
	}
	info.ExpiresAt = m.expiry(info.LoginAt, now)
	sess.Set(keyLastSeen, now.Unix())
	sess.SetExpiry(info.ExpiresAt.Sub(now))
	if err := sess.Save(); err != nil {
		return Info{}, false, storageErr(err)
	}
	return info, true, nil
}

// expiry is when a session that was used at now will end if not used again.
func (m *Manager) expiry(loginAt, now time.Time) time.Time {
	idle := now.Add(m.cfg.IdleTimeout)
	absolute := loginAt.Add(m.cfg.AbsoluteTimeout)
	if absolute.Before(idle) {
		return absolute
	}
	return idle
}

// End logs the request's session out: its data is deleted from the storage, so the
// old cookie is worthless if replayed.
func (m *Manager) End(c *fiber.Ctx) error {
	sess, err := m.store.Get(c)
	if err != nil {
		return storageErr(err)
	}
	uid, _ := sess.Get(keyUserID).(int64)
	id := sess.ID()
	if err := sess.Destroy(); err != nil {
		return storageErr(err)
	}
	m.views.drop(id)
	if uid != 0 {
		if err := m.storage.RemoveFromIndex(indexKey(uid), id); err != nil {
			return storageErr(err)
		}
	}
	return nil
}

// endStored ends a session found void or timed out while reading it.
func (m *Manager) endStored(userID int64, id string) error {
	m.views.drop(id)
	if err := errors.Join(m.storage.Delete(id), m.storage.RemoveFromIndex(indexKey(userID), id)); err != nil {
		return storageErr(err)
	}
	return nil
}

// Listed is one of a user's live sessions as the sessions page shows it.
type Listed struct {
	Handle     string
	Current    bool // the session of the request that asked
	Method     string
	CreatedAt  time.Time
	LastSeenAt time.Time // to within TouchInterval
	ExpiresAt  time.Time
	ClientIP   string
	UserAgent  string
}

// List returns the user's live sessions, newest first, marking the request's own.
// A session of an earlier access generation, or past a deadline, is not live.
func (m *Manager) List(c *fiber.Ctx, userID int64) ([]Listed, error) {
	live, err := m.live(c.UserContext(), userID)
	if err != nil {
		return nil, err
	}
	current := c.Cookies(CookieName)
	out := make([]Listed, 0, len(live))
	for i := len(live) - 1; i >= 0; i-- { // the index is oldest first
		v := live[i].view
		lastSeen := time.Unix(v.lastSeen, 0)
		out = append(out, Listed{Handle: v.handle, Current: live[i].id == current, Method: v.method,
			CreatedAt: time.Unix(v.loginAt, 0), LastSeenAt: lastSeen, ExpiresAt: m.expiry(time.Unix(v.loginAt, 0), lastSeen),
			ClientIP: v.clientIP, UserAgent: v.userAgent})
	}
	return out, nil
}

// Count is the number of the user's live sessions.
func (m *Manager) Count(ctx context.Context, userID int64) (int, error) {
	live, err := m.live(ctx, userID)
	return len(live), err
}

// EndByHandle ends one of the user's sessions, named by its public handle; found is
// false when the user has no live session of that handle, and wasAsking tells that
// the one ended is askingID (the request's own). The session is deleted from the
// shared storage, so every instance refuses it on its next request.
func (m *Manager) EndByHandle(ctx context.Context, userID int64, handle, askingID string) (found, wasAsking bool, err error) {
	live, err := m.live(ctx, userID)
	if err != nil {
		return false, false, err
	}
	for _, s := range live {
		if s.view.handle != "" && s.view.handle == handle {
			return true, s.id == askingID, m.endStored(userID, s.id)
		}
	}
	return false, false, nil
}

// liveSession is a session ID and what it holds.
type liveSession struct {
	id   string
	view view
}

// live reads the user's indexed sessions and keeps those still usable: present,
// of the user, of the current access generation, and within both deadlines.
func (m *Manager) live(ctx context.Context, userID int64) ([]liveSession, error) {
	ids, err := m.storage.Index(indexKey(userID))
	if err != nil {
		return nil, storageErr(err)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	vals, err := m.storage.GetMany(ids...)
	if err != nil {
		return nil, storageErr(err)
	}
	current, err := m.access.AccessGeneration(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := m.cfg.Now()
	var out []liveSession
	for i, raw := range vals {
		if raw == nil {
			continue
		}
		v, err := decodeView(raw)
		if err != nil || !v.loggedIn || v.userID != userID || v.generation < current {
			continue
		}
		if !now.Before(time.Unix(v.lastSeen, 0).Add(m.cfg.IdleTimeout)) || !now.Before(time.Unix(v.loginAt, 0).Add(m.cfg.AbsoluteTimeout)) {
			continue
		}
		out = append(out, liveSession{id: ids[i], view: v})
	}
	return out, nil
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// EndOthers deletes every session of a user except keepID. Ending a user's access
// (auth's EndAccess) already voids them all; this frees their storage at once.
func (m *Manager) EndOthers(userID int64, keepID string) (ended int, err error) {
	ids, err := m.storage.Index(indexKey(userID))
	if err != nil {
		return 0, storageErr(err)
	}
	var others []string
	for _, id := range ids {
		if id != keepID {
			others = append(others, id)
		}
	}
	if len(others) == 0 {
		return 0, nil
	}
	// Counted before they go: only those still holding a session were ended.
	vals, err := m.storage.GetMany(others...)
	if err != nil {
		return 0, storageErr(err)
	}
	errs := []error{}
	for i, id := range others {
		if vals[i] != nil {
			ended++
		}
		errs = append(errs, m.storage.Delete(id))
		m.views.drop(id)
	}
	errs = append(errs, m.storage.RemoveFromIndex(indexKey(userID), others...))
	if err := errors.Join(errs...); err != nil {
		return 0, storageErr(err)
	}
	return ended, nil
}

// existingOnly is the storage as Fiber's session (and, through it, the CSRF
// middleware) sees it: a write replaces a session only while it exists, so a
// request that read a session just before it was ended (a logout, EndOthers, the
// per-user limit, on any instance) cannot write it back to life. Start creates a
// session's key before Fiber's first write.
type existingOnly struct {
	shared.Store
}

func (s existingOnly) Set(key string, val []byte, exp time.Duration) error {
	_, err := s.Store.Replace(key, val, exp)
	return err
}

func indexKey(userID int64) string { return "user-sessions:" + strconv.FormatInt(userID, 10) }

// MaxSessionsPerUser is how many sessions one user may have at once; a new login
// beyond it ends the oldest.
const MaxSessionsPerUser = 32

func storageErr(err error) error {
	return apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
}
