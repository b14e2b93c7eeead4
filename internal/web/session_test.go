package web

import (
	"net/http"
	"testing"
	"time"

	"fiberauth/internal/sessions"
)

func TestSessionLifecycle(t *testing.T) {
	t.Run("the cookie is HttpOnly, SameSite=Lax and not Secure outside production", func(t *testing.T) {
		a := newTestApp(t, nil)
		resp, _ := a.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))
		c := cookie(resp, sessions.CookieName)
		if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
			t.Fatalf("cookie = %+v", c)
		}
	})

	t.Run("a cookie sent before login is not the one after", func(t *testing.T) {
		a := newTestApp(t, nil)
		planted := a.mustLogin(t, "bob", "securepass") // a real, live session ID
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), planted))
		after := cookie(resp, sessions.CookieName)
		if resp.StatusCode != 200 || after == nil || after.Value == planted.Value {
			t.Fatalf("login kept the planted ID: %d %s %+v", resp.StatusCode, body, after)
		}
		if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), planted)); resp.StatusCode != 401 {
			t.Errorf("the planted ID still works: %d", resp.StatusCode)
		}
		if resp, body := a.do(t, withCookie(request("GET", "/dashboard", ""), after)); body != `{"message":"Welcome to your dashboard, alice!"}` {
			t.Errorf("new session: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("an attacker-chosen ID is never adopted", func(t *testing.T) {
		a := newTestApp(t, nil)
		chosen := &http.Cookie{Name: sessions.CookieName, Value: "attacker-chosen-id"}
		resp, _ := a.do(t, withCookie(jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), chosen))
		if c := cookie(resp, sessions.CookieName); c == nil || c.Value == chosen.Value {
			t.Fatalf("cookie = %+v", c)
		}
	})

	t.Run("replayed cookie after logout is rejected", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.mustLogin(t, "alice", "password123")
		resp, body := a.do(t, withCookie(request("POST", "/logout", ""), c))
		if resp.StatusCode != 200 || body != `{"message":"Logged out successfully"}` {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		if cleared := cookie(resp, sessions.CookieName); cleared == nil || cleared.MaxAge >= 0 && cleared.Value != "" {
			t.Errorf("logout did not clear the cookie: %+v", cleared)
		}
		resp, body = a.do(t, withCookie(request("GET", "/dashboard", ""), c))
		if resp.StatusCode != 401 || envelope(t, body).Message != "Not authenticated" {
			t.Errorf("replayed cookie: %d %s", resp.StatusCode, body)
		}
	})

	t.Run("a session ends after the idle timeout", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"SESSION_IDLE_TIMEOUT": "10m", "SESSION_ABSOLUTE_TIMEOUT": "1h"})
		c := a.mustLogin(t, "alice", "password123")
		a.clock.Advance(9 * time.Minute)
		if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), c)); resp.StatusCode != 200 {
			t.Fatalf("used within the idle timeout: %d", resp.StatusCode)
		}
		a.clock.Advance(9 * time.Minute) // 18 minutes after login, 9 after the last use
		if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), c)); resp.StatusCode != 200 {
			t.Fatalf("use slides the idle deadline, but got %d", resp.StatusCode)
		}
		a.clock.Advance(10 * time.Minute)
		if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), c)); resp.StatusCode != 401 {
			t.Errorf("idle for 10m: %d, want 401", resp.StatusCode)
		}
	})

	t.Run("a session ends at the absolute timeout however often it is used", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"SESSION_IDLE_TIMEOUT": "10m", "SESSION_ABSOLUTE_TIMEOUT": "30m"})
		c := a.mustLogin(t, "alice", "password123")
		for range 5 { // used every 5 minutes: never idle
			a.clock.Advance(5 * time.Minute)
			if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), c)); resp.StatusCode != 200 {
				t.Fatalf("before the absolute timeout: %d", resp.StatusCode)
			}
		}
		a.clock.Advance(5 * time.Minute) // 30 minutes after login
		if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), c)); resp.StatusCode != 401 {
			t.Errorf("at the absolute timeout: %d, want 401", resp.StatusCode)
		}
	})

	// That every cookie is Secure in production is tested through the production
	// wiring, in internal/service (TestProductionCookiesAreSecure).
}
