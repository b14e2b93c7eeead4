package sessions

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/auth"
	"fiberauth/internal/shared"
	"fiberauth/internal/testenv"
)

// These tests pin down the idle timeout now that a use is written back at most once
// per TouchInterval, and that the decoding cache never answers for data the storage
// no longer holds. Time moves by hand (Config.Now).

type testApp struct {
	app     *fiber.App
	m       *Manager
	storage *shared.Memory
	clock   *testenv.Clock
	gens    *generations
}

// generations is a hand-moved table of users' access generations.
type generations struct {
	mu  sync.Mutex
	gen map[int64]int64
}

func (g *generations) AccessGeneration(_ context.Context, userID int64) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gen[userID], nil
}

// end moves a user's generation on, as auth's EndAccess does.
func (g *generations) end(userID int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen[userID]++
}

// newTestApp serves a Manager: POST /start?uid=&name= logs in, GET /current
// answers with the session's Info (401 without one), POST /end logs out.
func newTestApp(t *testing.T, cfg Config) *testApp {
	t.Helper()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	storage := shared.NewMemory(clock.Now)
	t.Cleanup(func() { storage.Close() })
	cfg.Now = clock.Now
	gens := &generations{gen: map[int64]int64{}}
	m := NewManager(storage, gens, cfg)
	app := fiber.New()
	app.Post("/start", func(c *fiber.Ctx) error {
		uid, _ := strconv.ParseInt(c.Query("uid"), 10, 64)
		gen, _ := gens.AccessGeneration(c.UserContext(), uid)
		_, err := m.Start(c, auth.Principal{UserID: uid, Username: c.Query("name"), Role: "user", Generation: gen},
			Login{Method: "password", ClientIP: c.IP(), UserAgent: c.Get("User-Agent")})
		return err
	})
	app.Get("/current", func(c *fiber.Ctx) error {
		info, ok, err := m.Current(c)
		if err != nil {
			return err
		}
		if !ok {
			return c.SendStatus(http.StatusUnauthorized)
		}
		return c.JSON(info)
	})
	app.Post("/end", func(c *fiber.Ctx) error { return m.End(c) })
	app.Get("/list", func(c *fiber.Ctx) error {
		uid, _ := strconv.ParseInt(c.Query("uid"), 10, 64)
		list, err := m.List(c, uid)
		if err != nil {
			return err
		}
		return c.JSON(list)
	})
	return &testApp{app: app, m: m, storage: storage, clock: clock, gens: gens}
}

// do sends a request with the session cookie id (if any) and returns the status,
// the session ID the response sets ("" if none) and the body.
func (a *testApp) do(t *testing.T, method, path, id string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if id != "" {
		req.AddCookie(&http.Cookie{Name: CookieName, Value: id})
	}
	resp, err := a.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var set string
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			set = c.Value
		}
	}
	return resp.StatusCode, set, string(body)
}

func (a *testApp) login(t *testing.T, uid int, name string) string {
	t.Helper()
	status, id, _ := a.do(t, "POST", "/start?uid="+strconv.Itoa(uid)+"&name="+name, "")
	if status != http.StatusOK || id == "" {
		t.Fatalf("start: %d, cookie %q", status, id)
	}
	return id
}

// current asserts whether the session is logged in and returns its Info.
func (a *testApp) current(t *testing.T, id string, wantOK bool) Info {
	t.Helper()
	status, _, body := a.do(t, "GET", "/current", id)
	if ok := status == http.StatusOK; ok != wantOK {
		t.Fatalf("at +%s: logged in = %v (%d), want %v", a.clock.Now().Sub(time.Unix(1_800_000_000, 0)), ok, status, wantOK)
	}
	var info Info
	if wantOK {
		if err := json.Unmarshal([]byte(body), &info); err != nil {
			t.Fatal(err)
		}
	}
	return info
}

func (a *testApp) raw(t *testing.T, id string) []byte {
	t.Helper()
	raw, err := a.storage.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestIdleTimeoutWithTouchInterval(t *testing.T) {
	cfg := Config{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour, TouchInterval: 10 * time.Second}

	t.Run("a use within the touch interval writes nothing", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		before := a.raw(t, id)
		a.clock.Advance(9 * time.Second)
		status, set, _ := a.do(t, "GET", "/current", id)
		if status != http.StatusOK || set != "" {
			t.Errorf("got %d and cookie %q, want 200 and no cookie", status, set)
		}
		if after := a.raw(t, id); string(after) != string(before) {
			t.Error("the session was written back")
		}
	})

	t.Run("a use after the touch interval slides the idle deadline", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		a.clock.Advance(50 * time.Second)
		a.current(t, id, true) // recorded: the deadline moves to +110s
		a.clock.Advance(59 * time.Second)
		a.current(t, id, true)
	})

	t.Run("a session ends at most the idle timeout after its last use", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		a.clock.Advance(9 * time.Second)
		a.current(t, id, true) // not recorded: the deadline stays at +60s
		a.clock.Advance(51 * time.Second)
		a.current(t, id, false) // ended 51s after the last use: within [50s, 60s]
	})

	t.Run("a session lasts at least the idle timeout minus the touch interval", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		a.clock.Advance(10 * time.Second)
		a.current(t, id, true) // recorded: touch interval reached
		a.clock.Advance(59 * time.Second)
		a.current(t, id, true)
	})

	t.Run("ExpiresAt is the deadline that applies", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		login := a.clock.Now()
		a.clock.Advance(5 * time.Second)
		if got := a.current(t, id, true).ExpiresAt; !got.Equal(login.Add(time.Minute)) {
			t.Errorf("unrecorded use: ExpiresAt = %v, want login + 1m", got)
		}
		a.clock.Advance(10 * time.Second)
		if got := a.current(t, id, true).ExpiresAt; !got.Equal(a.clock.Now().Add(time.Minute)) {
			t.Errorf("recorded use: ExpiresAt = %v, want now + 1m", got)
		}
	})

	t.Run("the absolute timeout holds whether or not uses are written", func(t *testing.T) {
		a := newTestApp(t, Config{IdleTimeout: time.Minute, AbsoluteTimeout: 2 * time.Minute, TouchInterval: 10 * time.Second})
		id := a.login(t, 1, "alice")
		for range 11 {
			a.clock.Advance(10*time.Second + 900*time.Millisecond)
			a.current(t, id, true)
		}
		a.clock.Advance(2*time.Minute - 11*(10*time.Second+900*time.Millisecond))
		a.current(t, id, false)
	})

	t.Run("the default touch interval is a sixtieth of the idle timeout", func(t *testing.T) {
		m := NewManager(shared.NewMemory(nil), &generations{}, Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: time.Hour})
		if m.cfg.TouchInterval != 30*time.Second {
			t.Errorf("TouchInterval = %v, want 30s", m.cfg.TouchInterval)
		}
		m = NewManager(shared.NewMemory(nil), &generations{}, Config{IdleTimeout: 10 * time.Second, AbsoluteTimeout: time.Hour})
		if m.cfg.TouchInterval != time.Second {
			t.Errorf("TouchInterval = %v, want the 1s floor", m.cfg.TouchInterval)
		}
	})
}

func TestDecodedSessionCache(t *testing.T) {
	cfg := Config{IdleTimeout: time.Minute, AbsoluteTimeout: time.Hour}

	t.Run("a session deleted elsewhere is refused at once", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		a.current(t, id, true)
		if err := a.storage.Delete(id); err != nil { // as another instance's logout does
			t.Fatal(err)
		}
		a.current(t, id, false)
	})

	t.Run("a session rewritten elsewhere is read afresh", func(t *testing.T) {
		a := newTestApp(t, cfg)
		alice := a.login(t, 1, "alice")
		bob := a.login(t, 2, "bob")
		if got := a.current(t, alice, true).Username; got != "alice" {
			t.Fatalf("username %q, want alice", got)
		}
		if err := a.storage.Set(alice, a.raw(t, bob), time.Minute); err != nil {
			t.Fatal(err)
		}
		if got := a.current(t, alice, true).Username; got != "bob" {
			t.Errorf("after the rewrite: username %q, want bob", got)
		}
	})

	t.Run("a replayed cookie after logout is refused", func(t *testing.T) {
		a := newTestApp(t, cfg)
		id := a.login(t, 1, "alice")
		a.current(t, id, true)
		if status, _, _ := a.do(t, "POST", "/end", id); status != http.StatusOK {
			t.Fatalf("end: %d", status)
		}
		a.current(t, id, false)
	})

	t.Run("the cache holds at most its size", func(t *testing.T) {
		a := newTestApp(t, cfg)
		raw := a.raw(t, a.login(t, 1, "alice"))
		c := newViewCache(2)
		for i := range 5 {
			if _, err := c.get("session-"+strconv.Itoa(i), raw); err != nil {
				t.Fatal(err)
			}
		}
		if got := c.len(); got > 2 {
			t.Errorf("cache holds %d sessions, want at most 2", got)
		}
	})
}

func TestSessionsPerUserAreBounded(t *testing.T) {
	a := newTestApp(t, Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour})
	var ids []string
	for range MaxSessionsPerUser + 3 {
		ids = append(ids, a.login(t, 7, "ivy"))
	}
	for i, id := range ids {
		a.current(t, id, i >= 3) // the three oldest were logged out
	}
	other := a.login(t, 8, "jan")
	if _, err := a.m.EndOthers(7, ids[len(ids)-1]); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		a.current(t, id, i == len(ids)-1)
	}
	a.current(t, other, true) // another user's session is untouched
}

// Ending a user's access voids every session they had, at once, and only theirs;
// a login after it works.
func TestEndedAccessVoidsSessions(t *testing.T) {
	a := newTestApp(t, Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour})
	first, second := a.login(t, 7, "ivy"), a.login(t, 7, "ivy")
	other := a.login(t, 8, "jan")
	a.gens.end(7)
	a.current(t, first, false)
	a.current(t, second, false)
	a.current(t, other, true)
	if raw, _ := a.storage.Get(first); raw != nil {
		t.Error("a void session's data is still stored after its next use")
	}
	a.current(t, a.login(t, 7, "ivy"), true)
}

// A session ended while other requests of it are in flight stays ended: a request
// that read it before the end and writes its use back afterwards (the idle
// deadline sliding, a CSRF token being saved) cannot bring it back. design.md: "no
// resurrected session after logout".
func TestEndedSessionIsNeverWrittenBack(t *testing.T) {
	a := newTestApp(t, Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour, TouchInterval: time.Second})
	for round := range 2000 {
		id := a.login(t, 1, "alice")
		a.clock.Advance(2 * time.Second) // every use from here on writes the session back
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.do(t, "GET", "/current", id)
			}()
		}
		a.do(t, "POST", "/end", id)
		wg.Wait()
		if raw, _ := a.storage.Get(id); raw != nil {
			t.Fatalf("round %d: the session ended by logout was written back by a request in flight", round)
		}
		a.current(t, id, false)
	}
}

// Session IDs carry at least 128 bits from crypto/rand (ASVS 5.0 7.2.3): 26
// base32 characters are 130, where Fiber's default UUIDv4 has 122.
func TestSessionIDsHaveAtLeast128Bits(t *testing.T) {
	a := newTestApp(t, Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour})
	seen := map[string]bool{}
	for range 100 {
		id := a.login(t, 1, "alice")
		if !validID.MatchString(id) || len(id)*5 < 128 || seen[id] {
			t.Fatalf("session ID %q: want 26 fresh base32 characters", id)
		}
		seen[id] = true
	}
}

// A user's list of sessions: newest first, the asking one marked, each under a
// public handle that is not its ID; one ends by its handle, and only its owner's.
func TestListAndEndSessions(t *testing.T) {
	a := newTestApp(t, Config{IdleTimeout: time.Hour, AbsoluteTimeout: 24 * time.Hour})
	var ids []string
	for range 3 {
		ids = append(ids, a.login(t, 1, "alice"))
		a.clock.Advance(time.Second)
	}
	bob := a.login(t, 2, "bob")
	list := a.list(t, 1, ids[1])
	if len(list) != 3 {
		t.Fatalf("%d sessions listed, want 3: %+v", len(list), list)
	}
	handles := map[string]bool{}
	for i, l := range list {
		if l.Current != (i == 1) {
			t.Errorf("session %d: current = %v", i, l.Current)
		}
		if l.Handle == "" || handles[l.Handle] || slices.Contains(ids, l.Handle) || strings.Contains(ids[2-i], l.Handle) {
			t.Errorf("session %d: handle %q is empty, repeated or taken from the ID", i, l.Handle)
		}
		handles[l.Handle] = true
		if l.Method != "password" || l.ExpiresAt.Before(l.LastSeenAt) {
			t.Errorf("session %d: %+v", i, l)
		}
		if i > 0 && !list[i-1].CreatedAt.After(l.CreatedAt) {
			t.Errorf("not newest first: %v then %v", list[i-1].CreatedAt, l.CreatedAt)
		}
	}
	if found, _, err := a.m.EndByHandle(t.Context(), 2, list[0].Handle, ids[1]); err != nil || found {
		t.Fatalf("bob ended alice's session: %v %v", found, err)
	}
	if found, asking, err := a.m.EndByHandle(t.Context(), 1, list[0].Handle, ids[1]); err != nil || !found || asking {
		t.Fatalf("EndByHandle = %v, %v, %v", found, asking, err)
	}
	a.current(t, ids[2], false) // the newest, listed first
	a.current(t, ids[0], true)
	if n, err := a.m.Count(t.Context(), 1); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2", n, err)
	}
	if n, err := a.m.EndOthers(1, ids[1]); err != nil || n != 1 {
		t.Fatalf("EndOthers = %d, %v; want 1", n, err)
	}
	a.current(t, ids[1], true)
	a.current(t, bob, true)
	a.gens.end(1)
	if list := a.list(t, 1, ids[1]); len(list) != 0 {
		t.Fatalf("after the user's access ended: %+v", list)
	}
}

func (a *testApp) list(t *testing.T, uid int64, id string) []Listed {
	t.Helper()
	status, _, body := a.do(t, "GET", "/list?uid="+strconv.FormatInt(uid, 10), id)
	var out []Listed
	if err := json.Unmarshal([]byte(body), &out); status != http.StatusOK || err != nil {
		t.Fatalf("list: %d %s %v", status, body, err)
	}
	return out
}
