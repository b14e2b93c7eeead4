package sessions_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/auth"
	"fiberauth/internal/sessions"
	"fiberauth/internal/shared"
	"fiberauth/internal/testenv"
)

// noEndedAccess says no user's access has ever ended.
type noEndedAccess struct{}

func (noEndedAccess) AccessGeneration(context.Context, int64) (int64, error) { return 0, nil }

// blindApp serves a Manager on a hand-moved clock over the memory storage, whose
// TTLs run on real time: a test that moves the clock by minutes finishes before any
// TTL fires, so only the Manager's own checks can end a session.
//
//	POST /anon   an anonymous session holding a value (what a page may keep before login)
//	POST /start  logs alice in
//	GET  /current 200 with the session, 401 without
//	GET  /peek   the anonymous value the session holds ("" for none)
type blindApp struct {
	app   *fiber.App
	clock *testenv.Clock
}

func newBlindApp(t *testing.T, cfg sessions.Config) *blindApp {
	t.Helper()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	storage := shared.NewMemory(clock.Now)
	t.Cleanup(func() { storage.Close() })
	cfg.Now = clock.Now
	m := sessions.NewManager(storage, noEndedAccess{}, cfg)
	app := fiber.New()
	app.Post("/anon", func(c *fiber.Ctx) error {
		sess, err := m.Store().Get(c)
		if err != nil {
			return err
		}
		sess.Set("pre-login", "anonymous value")
		// The Manager's storage lets Fiber's session write only sessions that
		// exist: make this one exist, as a session from before login would.
		if err := storage.Set(sess.ID(), []byte("pre-login"), time.Hour); err != nil {
			return err
		}
		return sess.Save()
	})
	app.Post("/start", func(c *fiber.Ctx) error {
		_, err := m.Start(c, auth.Principal{UserID: 7, Username: "alice", Role: "user"}, sessions.Login{Method: "password"})
		return err
	})
	app.Get("/current", func(c *fiber.Ctx) error {
		_, ok, err := m.Current(c)
		if err != nil {
			return err
		}
		if !ok {
			return c.SendStatus(http.StatusUnauthorized)
		}
		return c.SendStatus(http.StatusOK)
	})
	app.Get("/peek", func(c *fiber.Ctx) error {
		sess, err := m.Store().Get(c)
		if err != nil {
			return err
		}
		v, _ := sess.Get("pre-login").(string)
		return c.SendString(v)
	})
	return &blindApp{app: app, clock: clock}
}

// do sends a request with the session cookie id (if any) and returns the status,
// the session ID the response sets ("" if none) and the body.
func (a *blindApp) do(t *testing.T, method, path, id string) (status int, setID, body string) {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if id != "" {
		req.AddCookie(&http.Cookie{Name: sessions.CookieName, Value: id})
	}
	resp, err := a.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == sessions.CookieName {
			setID = c.Value
		}
	}
	return resp.StatusCode, setID, string(b)
}

func (a *blindApp) login(t *testing.T, id string) string {
	t.Helper()
	status, newID, body := a.do(t, "POST", "/start", id)
	if status != http.StatusOK || newID == "" {
		t.Fatalf("start: %d %q %s", status, newID, body)
	}
	return newID
}

// Only the absolute check can end these sessions: every use comes well inside the
// idle timeout, and the storage's TTL runs on real time, which barely moves. The
// web test of the absolute timeout is caught today only because the use at the
// deadline takes the write-back path, where Fiber's Save turns the non-positive
// expiry into the idle timeout and answers 200; a use inside the touch interval,
// or a storage whose TTL has already fired, would hide a missing check.
func TestAbsoluteTimeoutAloneEndsASession(t *testing.T) {
	const idle, absolute, m = 10 * time.Minute, 30 * time.Minute, time.Minute
	tests := []struct {
		name  string
		uses  []time.Duration // after login, each one answered 200
		after time.Duration   // after login, answered 401
	}{
		{"used every 4 minutes, it ends at the first use past the deadline",
			[]time.Duration{4 * m, 8 * m, 12 * m, 16 * m, 20 * m, 24 * m, 28 * m}, 32 * m},
		{"used every 5 minutes, it ends at the deadline itself",
			[]time.Duration{5 * m, 10 * m, 15 * m, 20 * m, 25 * m}, 30 * m},
		{"a use a second before the deadline does not carry it past",
			[]time.Duration{5 * m, 10 * m, 15 * m, 20 * m, 25 * m, 30*m - time.Second}, 30 * m},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newBlindApp(t, sessions.Config{IdleTimeout: idle, AbsoluteTimeout: absolute})
			id := a.login(t, "")
			var elapsed time.Duration
			for _, at := range tt.uses {
				a.clock.Advance(at - elapsed)
				elapsed = at
				if status, _, _ := a.do(t, "GET", "/current", id); status != http.StatusOK {
					t.Fatalf("use at %s: %d, want 200", at, status)
				}
			}
			a.clock.Advance(tt.after - elapsed)
			if status, _, _ := a.do(t, "GET", "/current", id); status != http.StatusUnauthorized {
				t.Fatalf("use at %s, past the %s absolute timeout: %d, want 401", tt.after, absolute, status)
			}
			// Ended for good, not just refused once.
			if status, _, _ := a.do(t, "GET", "/current", id); status != http.StatusUnauthorized {
				t.Errorf("the next use: %d, want 401", status)
			}
		})
	}
}

// A session the server issued before login (to hold a CSRF token, a flash, ...) has
// a well-formed ID anyone can get by visiting a page, and plant in a victim's
// browser. Logging in with it must give a new ID, and leave the old one and its data
// behind; an unknown well-formed ID must not be adopted either.
func TestLoginNeverKeepsAnIDFromBeforeIt(t *testing.T) {
	t.Run("a stored anonymous session's ID and data do not survive the login", func(t *testing.T) {
		a := newBlindApp(t, sessions.Config{IdleTimeout: 10 * time.Minute, AbsoluteTimeout: time.Hour})
		_, anon, _ := a.do(t, "POST", "/anon", "")
		if _, _, v := a.do(t, "GET", "/peek", anon); anon == "" || v != "anonymous value" {
			t.Fatalf("the anonymous session was not stored: %q %q", anon, v)
		}
		id := a.login(t, anon)
		if id == anon {
			t.Fatalf("login kept the anonymous session's ID %s", anon)
		}
		if status, _, _ := a.do(t, "GET", "/current", anon); status != http.StatusUnauthorized {
			t.Errorf("the pre-login ID authenticates: %d, want 401", status)
		}
		if status, _, _ := a.do(t, "GET", "/current", id); status != http.StatusOK {
			t.Errorf("the new ID: %d, want 200", status)
		}
		if _, _, v := a.do(t, "GET", "/peek", id); v != "" {
			t.Errorf("the session after login still holds the anonymous data %q", v)
		}
	})

	t.Run("an unknown well-formed ID is not adopted", func(t *testing.T) {
		a := newBlindApp(t, sessions.Config{IdleTimeout: 10 * time.Minute, AbsoluteTimeout: time.Hour})
		for i := range 2 {
			planted := "3f2b8c1e-9d4a-4e6b-8f1c-2a7d5e9b0c1" + strconv.Itoa(i)
			id := a.login(t, planted)
			if id == planted {
				t.Fatalf("login adopted the planted ID %s", planted)
			}
			if status, _, _ := a.do(t, "GET", "/current", planted); status != http.StatusUnauthorized {
				t.Errorf("the planted ID authenticates: %d, want 401", status)
			}
		}
	})
}
