package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"fiberauth/internal/sessions"
)

const (
	firefoxLinux = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
	safariIPhone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1"
)

// listed is GET /account/sessions as a JSON client sees it.
func listed(t *testing.T, c *client) []sessionResponse {
	t.Helper()
	resp, body := c.do(t, request("GET", "/account/sessions", ""))
	var got struct {
		Sessions []sessionResponse `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("GET /account/sessions: %d %s", resp.StatusCode, body)
	}
	return got.Sessions
}

// loginAs logs a JSON client in with a User-Agent.
func loginAs(t *testing.T, a *testApp, user, pass, ua string) *client {
	t.Helper()
	c := a.client()
	resp, body := c.do(t, jsonRequest("POST", "/login", `{"username":"`+user+`","password":"`+pass+`"}`, "User-Agent", ua))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: %d %s", user, resp.StatusCode, body)
	}
	return c
}

func TestSessionsList(t *testing.T) {
	a := newTestApp(t, nil)
	laptop := loginAs(t, a, "alice", "password123", firefoxLinux)
	phone := loginAs(t, a, "alice", "password123", safariIPhone)
	loginAs(t, a, "bob", "securepass", firefoxLinux)

	list := listed(t, laptop)
	if len(list) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2 (bob's is not hers): %+v", len(list), list)
	}
	byDevice := map[string]sessionResponse{}
	for _, s := range list {
		byDevice[s.Device] = s
	}
	mine, other := byDevice["Firefox 140 on Linux"], byDevice["Safari 18 on iOS"]
	if !mine.Current || other.Current || mine.ID == "" || other.ID == "" {
		t.Fatalf("devices and current marks: %+v", list)
	}
	for _, s := range list {
		if strings.Contains(laptop.jar[sessions.CookieName].Value+phone.jar[sessions.CookieName].Value, s.ID) {
			t.Errorf("a public handle %q is part of a cookie value", s.ID)
		}
		if s.Method != "password" || s.IP == "" || s.CreatedAt.IsZero() || !s.ExpiresAt.After(s.LastSeenAt) {
			t.Errorf("incomplete session %+v", s)
		}
	}
	if list[0].CreatedAt.Before(list[1].CreatedAt) {
		t.Error("not newest first")
	}
	if resp, _ := a.do(t, request("GET", "/account/sessions", "")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without a session: %d", resp.StatusCode)
	}

	t.Run("the page and the dashboard show them", func(t *testing.T) {
		b := a.client()
		b.login(t, "alice", "password123")
		_, body := b.page(t, "/account/sessions")
		mustContain(t, body, "3 active sessions", "Firefox 140 on Linux", "Safari 18 on iOS", "this browser",
			`hx-confirm="Sign out Firefox 140 on Linux? It stops working at once."`, "Sign out all other sessions")
		_, body = b.page(t, "/dashboard")
		mustContain(t, body, `<a href="/account/sessions">3 active sessions</a>`)
	})
}

func TestSessionEnd(t *testing.T) {
	tests := []struct {
		name   string
		handle func(own, others []sessionResponse) string
		want   int
	}{
		{"another of my sessions ends", func(own, _ []sessionResponse) string { return notCurrent(own).ID }, http.StatusNoContent},
		{"another user's session is not found", func(_, others []sessionResponse) string { return others[0].ID }, http.StatusNotFound},
		{"an unknown handle is not found", func(_, _ []sessionResponse) string { return "aaaaaaaaaaaaaaaa" }, http.StatusNotFound},
		{"a handle of another shape is not found", func(_, _ []sessionResponse) string { return "revoke-others" }, http.StatusNotFound},
		{"a cookie value is not a handle", func(_, _ []sessionResponse) string { return "%2E%2E" }, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, nil)
			me, phone := loginAs(t, a, "alice", "password123", firefoxLinux), loginAs(t, a, "alice", "password123", safariIPhone)
			bob := loginAs(t, a, "bob", "securepass", firefoxLinux)
			handle := tt.handle(listed(t, me), listed(t, bob))
			resp, body := me.do(t, request("DELETE", "/account/sessions/"+handle, ""))
			if resp.StatusCode != tt.want {
				t.Fatalf("DELETE: %d %s, want %d", resp.StatusCode, body, tt.want)
			}
			wantPhone := http.StatusOK
			if tt.want == http.StatusNoContent {
				wantPhone = http.StatusUnauthorized // refused on its very next request
				if events, _ := a.auth.RecentAudit(t.Context(), "alice", 5); events[0].Action != "session.end" {
					t.Errorf("not audited: %+v", events[0])
				}
			} else {
				envelope(t, body)
			}
			if resp, _ := phone.do(t, request("GET", "/dashboard", "")); resp.StatusCode != wantPhone {
				t.Errorf("the other session: %d, want %d", resp.StatusCode, wantPhone)
			}
			if resp, _ := bob.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusOK {
				t.Errorf("bob's session: %d", resp.StatusCode)
			}
			if resp, _ := me.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusOK {
				t.Errorf("the asking session: %d", resp.StatusCode)
			}
		})
	}

	t.Run("ending the asking session logs it out", func(t *testing.T) {
		a := newTestApp(t, nil)
		me := loginAs(t, a, "alice", "password123", firefoxLinux)
		own := listed(t, me)[0]
		if resp, _ := me.do(t, request("DELETE", "/account/sessions/"+own.ID, "")); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE own: %d", resp.StatusCode)
		}
		if resp, _ := me.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("after ending itself: %d", resp.StatusCode)
		}
	})
}

func TestSessionsRevokeOthers(t *testing.T) {
	a := newTestApp(t, nil)
	me := loginAs(t, a, "alice", "password123", firefoxLinux)
	others := []*client{loginAs(t, a, "alice", "password123", safariIPhone), loginAs(t, a, "alice", "password123", "")}
	bob := loginAs(t, a, "bob", "securepass", firefoxLinux)
	resp, body := me.do(t, request("POST", "/account/sessions/revoke-others", ""))
	if resp.StatusCode != http.StatusOK || body != `{"revoked":2}` {
		t.Fatalf("revoke-others: %d %s", resp.StatusCode, body)
	}
	for _, c := range others {
		if resp, _ := c.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("another session: %d", resp.StatusCode)
		}
	}
	for _, c := range []*client{me, bob} {
		if resp, _ := c.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusOK {
			t.Errorf("a session that should stay: %d", resp.StatusCode)
		}
	}
	if resp, body := me.do(t, request("POST", "/account/sessions/revoke-others", "")); body != `{"revoked":0}` {
		t.Errorf("again: %d %s", resp.StatusCode, body)
	}
}

// The browser's ways to end a session: a form without JavaScript (CSRF token,
// Post/Redirect/Get with a flash) and htmx (the list again).
func TestSessionsInTheBrowser(t *testing.T) {
	a := newTestApp(t, nil)
	b := a.client()
	b.login(t, "alice", "password123")
	phone := loginAs(t, a, "alice", "password123", safariIPhone)
	laptop := loginAs(t, a, "alice", "password123", firefoxLinux)
	token := b.token(t, "/account/sessions")
	var phoneID, laptopID string
	for _, s := range listed(t, phone) {
		switch s.Device {
		case "Safari 18 on iOS":
			phoneID = s.ID
		case "Firefox 140 on Linux":
			laptopID = s.ID
		}
	}

	if resp, _ := b.form(t, "/account/sessions/"+phoneID+"/end", url.Values{}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a form without the CSRF token: %d", resp.StatusCode)
	}
	resp, _ := b.form(t, "/account/sessions/"+phoneID+"/end", url.Values{csrfFormField: {token}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/sessions" {
		t.Fatalf("the form: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := b.page(t, "/account/sessions")
	mustContain(t, body, "That session has been signed out.", "2 active sessions")
	if resp, _ := phone.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the phone after the form: %d", resp.StatusCode)
	}

	resp, body = b.htmx(t, "DELETE", "/account/sessions/"+laptopID, nil, token)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="sessions"`) || strings.Contains(body, "<html") {
		t.Fatalf("htmx: %d %s", resp.StatusCode, body)
	}
	mustContain(t, body, "1 active session")
	mustNotContain(t, body, "Firefox 140 on Linux")
	if resp, _ := laptop.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the laptop after htmx: %d", resp.StatusCode)
	}
}

func notCurrent(list []sessionResponse) sessionResponse {
	for _, s := range list {
		if !s.Current {
			return s
		}
	}
	return sessionResponse{}
}

func TestDeviceLabel(t *testing.T) {
	for ua, want := range map[string]string{
		firefoxLinux: "Firefox 140 on Linux",
		safariIPhone: "Safari 18 on iOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36": "Chrome 156 on Windows",
		"curl/8.5.0": "curl 8",
		"":           "Unknown device",
		"   ":        "Unknown device",
	} {
		if got := deviceLabel(ua); got != want {
			t.Errorf("deviceLabel(%q) = %q, want %q", ua, got, want)
		}
	}
}
