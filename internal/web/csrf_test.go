package web

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCSRFRule checks every branch of design.md's rule: an unsafe request that a
// session cookie authenticates, or that logs in or signs up, needs a token when its
// body is one a cross-site form can send or when it says it comes from another site.
func TestCSRFRule(t *testing.T) {
	const (
		form      = "application/x-www-form-urlencoded"
		multipart = "multipart/form-data; boundary=XYZ"
		plain     = "text/plain"
		jsonType  = "application/json"
		self      = "http://example.com" // httptest requests go to example.com
		evil      = "https://evil.example"
	)
	multipartBody := func(fields ...string) string {
		var b strings.Builder
		for i := 0; i+1 < len(fields); i += 2 {
			b.WriteString("--XYZ\r\nContent-Disposition: form-data; name=\"" + fields[i] + "\"\r\n\r\n" + fields[i+1] + "\r\n")
		}
		b.WriteString("--XYZ--\r\n")
		return b.String()
	}

	tests := []struct {
		name     string
		loggedIn bool // as alice, through the login form
		noCookie bool // a client that has visited no page
		method   string
		path     string
		ctype    string
		body     string // "{token}" is replaced by a valid token
		headers  []string
		want     int
	}{
		// Logging in: covered with or without a session.
		{name: "login form post without a token is refused", method: "POST", path: "/login", ctype: form,
			body: "username=alice&password=password123", want: 403},
		{name: "login form post with the form's token logs in", method: "POST", path: "/login", ctype: form,
			body: "username=alice&password=password123&_csrf={token}", want: 303},
		{name: "login form post with the token in X-Csrf-Token logs in", method: "POST", path: "/login", ctype: form,
			body: "username=alice&password=password123", headers: []string{"X-Csrf-Token", "{token}"}, want: 303},
		{name: "login form post with a made-up token is refused", method: "POST", path: "/login", ctype: form,
			body: "username=alice&password=password123&_csrf=4c1f2a58-0000-4000-8000-000000000000", want: 403},
		{name: "login multipart post without a token is refused", method: "POST", path: "/login", ctype: multipart,
			body: multipartBody("username", "alice", "password", "password123"), want: 403},
		{name: "login multipart post with a token logs in", method: "POST", path: "/login", ctype: multipart,
			body: multipartBody("username", "alice", "password", "password123", "_csrf", "{token}"), want: 303},
		{name: "login as text/plain without a token is refused", method: "POST", path: "/login", ctype: plain,
			body: `{"username":"alice","password":"password123"}`, want: 403},
		{name: "login as XML needs no token (no form can send it) and is refused as such", method: "POST", path: "/login",
			ctype: "application/xml", body: `<login/>`, want: 415},
		{name: "login as XML from another origin is refused", method: "POST", path: "/login",
			ctype: "application/xml", body: `<login/>`, headers: []string{"Origin", evil}, want: 403},
		{name: "same-origin JSON login needs no token", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, headers: []string{"Origin", self}, want: 200},
		{name: "origin-less JSON login (curl) needs no token", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, want: 200},
		{name: "JSON login from another origin is refused", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, headers: []string{"Origin", evil}, want: 403},
		{name: "JSON login with Origin null is refused", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, headers: []string{"Origin", "null"}, want: 403},
		{name: "JSON login marked Sec-Fetch-Site cross-site is refused", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, headers: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "JSON login marked same-origin passes", method: "POST", path: "/login", ctype: jsonType,
			body: `{"username":"alice","password":"password123"}`, headers: []string{"Sec-Fetch-Site", "same-origin"}, want: 200},

		// Signing up: covered like logging in.
		{name: "register form post without a token is refused", method: "POST", path: "/register", ctype: form,
			body: "username=newbie&password=long-enough-1&confirm_password=long-enough-1", want: 403},
		{name: "register form post with a token signs up", method: "POST", path: "/register", ctype: form,
			body: "username=newbie&password=long-enough-1&confirm_password=long-enough-1&_csrf={token}", want: 303},
		{name: "same-origin JSON register needs no token", method: "POST", path: "/register", ctype: jsonType,
			body: `{"username":"newbie","password":"long-enough-1"}`, want: 201},
		{name: "cross-site JSON register is refused", method: "POST", path: "/register", ctype: jsonType,
			body: `{"username":"newbie","password":"long-enough-1"}`, headers: []string{"Origin", evil}, want: 403},

		// Logging out.
		{name: "logout form post without a token is refused", loggedIn: true, method: "POST", path: "/logout", ctype: form,
			want: 403},
		{name: "logout form post with a token logs out", loggedIn: true, method: "POST", path: "/logout", ctype: form,
			body: "_csrf={token}", want: 303},
		{name: "bodyless logout (curl -X POST) needs no token", loggedIn: true, method: "POST", path: "/logout", want: 200},
		{name: "bodyless logout from another origin is refused", loggedIn: true, method: "POST", path: "/logout",
			headers: []string{"Origin", evil}, want: 403},
		{name: "logout with no session cookie is outside the rule", noCookie: true, method: "POST", path: "/logout", ctype: form, want: 303},

		// Keys.
		{name: "key creation by form without a token is refused", loggedIn: true, method: "POST", path: "/keys", ctype: form,
			body: "name=ci&permissions=read", want: 403},
		{name: "key creation by form with a token works", loggedIn: true, method: "POST", path: "/keys", ctype: form,
			body: "name=ci&permissions=read&_csrf={token}", want: 303},
		{name: "same-origin JSON key creation needs no token", loggedIn: true, method: "POST", path: "/keys", ctype: jsonType,
			body: `{"name":"ci","permissions":["read"]}`, headers: []string{"Origin", self}, want: 201},
		{name: "cross-site JSON key creation is refused", loggedIn: true, method: "POST", path: "/keys", ctype: jsonType,
			body: `{"name":"ci","permissions":["read"]}`, headers: []string{"Sec-Fetch-Site", "cross-site"}, want: 403},
		{name: "key revocation from another origin is refused", loggedIn: true, method: "DELETE", path: "/keys/1",
			headers: []string{"Origin", evil}, want: 403},
		{name: "key revocation by a plain form without a token is refused", loggedIn: true, method: "POST", path: "/keys/1/revoke",
			ctype: form, want: 403},

		// Password.
		{name: "password change by form without a token is refused", loggedIn: true, method: "POST", path: "/account/password",
			ctype: form, body: "current_password=password123&new_password=another-pass-1&confirm_password=another-pass-1", want: 403},
		{name: "password change by form with a token works", loggedIn: true, method: "POST", path: "/account/password",
			ctype: form, body: "current_password=password123&new_password=another-pass-1&confirm_password=another-pass-1&_csrf={token}", want: 303},
		{name: "cross-origin JSON password change is refused", loggedIn: true, method: "POST", path: "/account/password",
			ctype: jsonType, body: `{"current_password":"password123","new_password":"another-pass-1"}`,
			headers: []string{"Origin", evil}, want: 403},
		{name: "same-origin JSON password change needs no token", loggedIn: true, method: "POST", path: "/account/password",
			ctype: jsonType, body: `{"current_password":"password123","new_password":"another-pass-1"}`, want: 200},

		// API keys and Basic carry no cookie: outside the rule.
		{name: "an API-key request from another origin is outside the rule", noCookie: true, method: "POST", path: "/apikey/create",
			ctype: jsonType, body: `{"name":"widget"}`, headers: []string{"Authorization", "Bearer sk_test_123", "Origin", evil}, want: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, nil)
			c := a.client()
			var token string
			switch {
			case tt.noCookie:
			case tt.loggedIn:
				c.login(t, "alice", "password123")
				token = c.token(t, "/dashboard")
			default:
				token = c.token(t, "/login")
			}
			body := strings.ReplaceAll(tt.body, "{token}", token)
			headers := append([]string{}, tt.headers...)
			for i := range headers {
				headers[i] = strings.ReplaceAll(headers[i], "{token}", token)
			}
			if tt.ctype != "" {
				headers = append(headers, "Content-Type", tt.ctype)
			}
			resp, got := c.do(t, request(tt.method, tt.path, body, headers...))
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, got)
			}
			if tt.want == http.StatusForbidden && tt.ctype == jsonType {
				if e := envelope(t, got); e.Type != "authorization_error" || e.Message != errCSRF.Message {
					t.Errorf("envelope %+v", e)
				}
			}
			if tt.want == http.StatusForbidden && tt.loggedIn {
				// A refused request changed nothing: still logged in.
				if resp, _ := c.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusOK {
					t.Errorf("after a refused request the session is gone: %d", resp.StatusCode)
				}
			}
		})
	}
}

// TestCSRFTokenAfterLoginAndLogout checks that the token dropped with the session
// at login is replaced by the next page, so the next form works.
func TestCSRFTokenAfterLoginAndLogout(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	before := c.token(t, "/login")
	c.login(t, "alice", "password123")
	after := c.token(t, "/dashboard")
	if after == before {
		t.Fatalf("the token survived login")
	}
	resp, body := c.form(t, "/keys", urlValues("name", "ci", "permissions", "read", csrfFormField, after))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("form after login: %d %s", resp.StatusCode, body)
	}
	resp, _ = c.form(t, "/logout", urlValues(csrfFormField, after))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	// The old token died with the session: the login page has a new one that works.
	again := c.token(t, "/login")
	if again == after {
		t.Errorf("the token survived logout")
	}
	resp, _ = c.form(t, "/login", urlValues("username", "alice", "password", "password123", csrfFormField, after))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("the old token still works after logout: %d", resp.StatusCode)
	}
	resp, _ = c.form(t, "/login", urlValues("username", "alice", "password", "password123", csrfFormField, again))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("login with the new token: %d", resp.StatusCode)
	}
}

// TestAnonymousPagesCreateNoSession checks that a visitor who has not logged in
// costs the server nothing that outlives the request: the pages with a login or
// sign-up form hand out a signed token in a cookie, not a session, and no page,
// however often it is asked for, leaves anything in the storage.
func TestAnonymousPagesCreateNoSession(t *testing.T) {
	a := newTestApp(t, nil)
	resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer sk_test_123"))
	if cookie(resp, "session_id") != nil || cookie(resp, csrfCookie) != nil {
		t.Errorf("an API-key request got cookies")
	}
	keysBefore := storedKeys(t, a)
	for _, path := range []string{"/", "/healthz", "/nope", "/login", "/register", "/playground", "/docs"} {
		for range 200 {
			resp, _ := a.client().page(t, path)
			if ck := cookie(resp, "session_id"); ck != nil {
				t.Fatalf("GET %s set a session cookie", path)
			}
		}
	}
	if after := storedKeys(t, a); after != keysBefore {
		t.Fatalf("1,400 anonymous page views left %d keys in the storage (before: %d)", after, keysBefore)
	}
	resp, _ = a.client().page(t, "/login")
	if cookie(resp, "session_id") != nil || cookie(resp, csrfCookie) == nil {
		t.Errorf("the login page should set a CSRF cookie and no session cookie")
	}
}

// TestAnonymousCSRFTokens pins down the signed tokens of visitors: the token of the
// login page logs in, and a forged, altered, expired or other site's token does not.
func TestAnonymousCSRFTokens(t *testing.T) {
	a := newTestApp(t, nil)
	other := newSignedTokens([]byte(strings.Repeat("k", 32)), time.Hour, time.Now)
	own := newSignedTokens(a.csrfKey(t), time.Hour, time.Now)
	expired := newSignedTokens(a.csrfKey(t), -time.Second, time.Now)
	good := own.mint()
	tests := []struct {
		name          string
		cookie, field string
		want          int
	}{
		{"the token the login page gave logs in", "", "", http.StatusSeeOther},
		{"a token signed with another key is refused", other.mint(), "", http.StatusForbidden},
		{"an expired token is refused", expired.mint(), "", http.StatusForbidden},
		{"an altered token is refused", good[:len(good)-2] + "AA", "", http.StatusForbidden},
		{"a field that differs from the cookie is refused", good, own.mint(), http.StatusForbidden},
		{"a made-up token is refused", "not-a-token", "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := a.client()
			token := c.token(t, "/login")
			if tt.cookie != "" {
				c.setCookie(csrfCookie, tt.cookie)
				token = tt.cookie
			}
			if tt.field != "" {
				token = tt.field
			}
			resp, body := c.form(t, "/login", urlValues("username", "alice", "password", "password123", csrfFormField, token))
			if resp.StatusCode != tt.want {
				t.Fatalf("login: %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
		})
	}
}

// storedKeys counts what the app's storage holds.
func storedKeys(t *testing.T, a *testApp) int {
	t.Helper()
	keys, err := a.shared.Keys()
	if err != nil {
		t.Fatal(err)
	}
	return len(keys)
}
