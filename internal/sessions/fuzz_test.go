package sessions

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"fiberauth/internal/auth"
	"fiberauth/internal/shared"
)

// keyLog is a storage that records every key it is asked for.
type keyLog struct {
	*shared.Memory
	mu   sync.Mutex
	keys []string
}

func (k *keyLog) record(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys = append(k.keys, key)
}

// take returns the keys recorded since the last call.
func (k *keyLog) take() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys := k.keys
	k.keys = nil
	return keys
}

func (k *keyLog) Get(key string) ([]byte, error) { k.record(key); return k.Memory.Get(key) }

func (k *keyLog) Set(key string, val []byte, exp time.Duration) error {
	k.record(key)
	return k.Memory.Set(key, val, exp)
}

func (k *keyLog) Replace(key string, val []byte, exp time.Duration) (bool, error) {
	k.record(key)
	return k.Memory.Replace(key, val, exp)
}

func (k *keyLog) Delete(key string) error { k.record(key); return k.Memory.Delete(key) }

// isSessionID is validID written out by hand: 26 characters of the base32
// alphabet (upper-case letters and the digits 2 to 7), what crypto/rand.Text makes.
func isSessionID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// FuzzDropForeignCookie sends any session cookie through DropForeignCookie and
// Manager.Current: only a well-formed session ID reaches the storage as a key.
func FuzzDropForeignCookie(f *testing.F) {
	storage := &keyLog{Memory: shared.NewMemory(nil)}
	f.Cleanup(func() { storage.Close() })
	m := NewManager(storage, &generations{gen: map[int64]int64{}}, Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 24 * time.Hour})
	var seen string // the cookie the handler saw; the fuzz function runs one input at a time
	app := fiber.New()
	app.Use(DropForeignCookie)
	app.Post("/start", func(c *fiber.Ctx) error {
		_, err := m.Start(c, auth.Principal{UserID: 2, Username: "alice", Role: "user"}, Login{Method: "password"})
		return err
	})
	app.Get("/current", func(c *fiber.Ctx) error {
		seen = c.Cookies(CookieName)
		_, ok, err := m.Current(c)
		if err != nil {
			return err
		}
		if !ok {
			return c.SendStatus(http.StatusUnauthorized)
		}
		return c.SendStatus(http.StatusOK)
	})
	resp, err := app.Test(httptest.NewRequest("POST", "/start", nil), -1)
	if err != nil || resp.StatusCode != http.StatusOK {
		f.Fatalf("start: %v %v", resp, err)
	}
	var live string
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			live = c.Value
		}
	}
	if !isSessionID(live) {
		f.Fatalf("Fiber's session made the ID %q", live)
	}

	for _, seed := range []string{live, strings.ToUpper(live), live + "\n", live + " ", "x; " + CookieName + "=" + live,
		live[:14] + "1" + live[15:], live[:19] + "c" + live[20:], strings.ReplaceAll(live, "-", ""), "{" + live + "}",
		"user-sessions:2", "rate:0.0.0.0", "", "\x00", "é"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		if got, want := validID.MatchString(value), isSessionID(value); got != want {
			t.Fatalf("validID.MatchString(%q) = %v, want %v", value, got, want)
		}
		storage.take()
		req := httptest.NewRequest("GET", "/current", nil)
		req.Header.Set("Cookie", CookieName+"="+value)
		seen = ""
		resp, err := app.Test(req, -1)
		if errors.As(err, new(*fasthttp.ErrSmallBuffer)) {
			t.Skip("headers over the read buffer never reach the app")
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("cookie %q: status %d", value, resp.StatusCode)
		}
		if resp.StatusCode == http.StatusOK && !strings.Contains(value, live) {
			t.Fatalf("cookie %q logged in", value)
		}
		if seen != "" && !isSessionID(seen) {
			t.Fatalf("cookie %q reached the handler as %q", value, seen)
		}
		for _, key := range storage.take() {
			if !isSessionID(key) && !strings.HasPrefix(key, "user-sessions:") {
				t.Fatalf("cookie %q made the storage look up %q", value, key)
			}
		}
	})
}
