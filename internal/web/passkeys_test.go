package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/passkey"
	"fiberauth/internal/passkey/softkey"
	"fiberauth/internal/sessions"
)

// passkeyJSON posts a JSON body through c, as passkey.js does (same origin, no
// token needed by the CSRF rule).
func passkeyJSON(t *testing.T, c *client, path, body string) (*http.Response, string) {
	t.Helper()
	return c.do(t, jsonRequest("POST", path, body))
}

// registerPasskey adds a passkey made by key for the user logged in on c.
func registerPasskey(t *testing.T, c *client, key *softkey.Authenticator, name string) int64 {
	t.Helper()
	resp, opts := passkeyJSON(t, c, "/account/passkeys/options", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("registration options: %d %s", resp.StatusCode, opts)
	}
	cred, err := key.Register([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": name, "credential": json.RawMessage(cred)})
	resp, out := passkeyJSON(t, c, "/account/passkeys", string(body))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %d %s", resp.StatusCode, out)
	}
	var made struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(out), &made); err != nil || made.ID == 0 || made.Name != name {
		t.Fatalf("register answered %s", out)
	}
	return made.ID
}

// passkeyOptions starts a login on c and returns the options.
func passkeyOptions(t *testing.T, c *client) []byte {
	t.Helper()
	resp, opts := passkeyJSON(t, c, "/login/passkey/options", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login options: %d %s", resp.StatusCode, opts)
	}
	ck := cookie(resp, passkeyLoginCookie)
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != passkeyLoginPath {
		t.Fatalf("login options set cookie %+v, want HttpOnly, SameSite=Strict, Path=%s", ck, passkeyLoginPath)
	}
	if strings.Contains(opts, "allowCredentials") {
		t.Fatalf("discoverable login options list credentials: %s", opts)
	}
	return []byte(opts)
}

func loginBody(assertion []byte) string {
	body, _ := json.Marshal(map[string]any{"credential": json.RawMessage(assertion)})
	return string(body)
}

// loginWithPasskey logs c in with key and returns the answer.
func loginWithPasskey(t *testing.T, c *client, key *softkey.Authenticator) (*http.Response, string) {
	t.Helper()
	assertion, err := key.Login(passkeyOptions(t, c))
	if err != nil {
		t.Fatal(err)
	}
	return passkeyJSON(t, c, "/login/passkey", loginBody(assertion))
}

func newKey(a *testApp) *softkey.Authenticator {
	u, _ := url.Parse(a.cfg.PublicURL)
	return softkey.New(a.cfg.PublicURL, u.Hostname())
}

func TestPasskeyRegisterThenLogInWithNoUsername(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Laptop")

	resp, body := alice.do(t, request("GET", "/account/passkeys", ""))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"Laptop"`) || !strings.Contains(body, `"last_used_at":null`) {
		t.Fatalf("GET /account/passkeys: %d %s", resp.StatusCode, body)
	}

	visitor := a.client()
	resp, body = loginWithPasskey(t, visitor, key)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Login successful") {
		t.Fatalf("passkey login: %d %s", resp.StatusCode, body)
	}
	if visitor.jar[sessions.CookieName] == nil || visitor.jar[sessions.CookieName].Value == alice.jar[sessions.CookieName].Value {
		t.Fatal("passkey login gave no fresh session")
	}
	if ck := visitor.jar[passkeyLoginCookie]; ck != nil {
		t.Fatalf("the login challenge cookie outlived the login: %+v", ck)
	}

	t.Run("whoami says passkey", func(t *testing.T) {
		resp, body := visitor.do(t, request("GET", "/whoami", ""))
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"method":"passkey"`) || !strings.Contains(body, `"username":"alice"`) {
			t.Fatalf("whoami: %d %s", resp.StatusCode, body)
		}
		_, body = alice.do(t, request("GET", "/whoami", ""))
		if !strings.Contains(body, `"method":"session"`) {
			t.Fatalf("a password session's whoami: %s", body)
		}
	})
	t.Run("the dashboard and the sessions page say passkey", func(t *testing.T) {
		_, body := visitor.page(t, "/dashboard")
		mustContain(t, body, "after a passkey login")
		found := false
		for _, s := range listed(t, visitor) {
			found = found || (s.Current && s.Method == "passkey")
		}
		if !found {
			t.Fatalf("the sessions list does not show this session as passkey: %+v", listed(t, visitor))
		}
	})
	t.Run("the list shows when it was last used", func(t *testing.T) {
		_, body := alice.do(t, request("GET", "/account/passkeys", ""))
		if strings.Contains(body, `"last_used_at":null`) {
			t.Fatalf("last_used_at not recorded: %s", body)
		}
	})
	t.Run("a passkey session's pages carry a CSRF token that works", func(t *testing.T) {
		token := visitor.token(t, "/account")
		resp, body := visitor.form(t, "/account/sessions/revoke-others", urlValues(csrfFormField, token))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("form post with the page's token: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("a passkey session still needs a CSRF token for form posts", func(t *testing.T) {
		resp, _ := visitor.form(t, "/keys", urlValues("name", "k", "permissions", "read"))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("form post without token from a passkey session: %d, want 403", resp.StatusCode)
		}
	})
}

func TestPasskeyAssertionReplayIsRefused(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Phone")

	visitor := a.client()
	opts := passkeyOptions(t, visitor)
	ticket := visitor.jar[passkeyLoginCookie].Value
	assertion, err := key.Login(opts)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body := passkeyJSON(t, visitor, "/login/passkey", loginBody(assertion)); resp.StatusCode != http.StatusOK {
		t.Fatalf("first login: %d %s", resp.StatusCode, body)
	}
	// An attacker who captured the request replays it, cookie and all.
	attacker := a.client()
	attacker.setCookie(passkeyLoginCookie, ticket)
	resp, body := passkeyJSON(t, attacker, "/login/passkey", loginBody(assertion))
	if resp.StatusCode != http.StatusUnauthorized || attacker.jar[sessions.CookieName] != nil {
		t.Fatalf("replayed assertion: %d %s, want 401 and no session", resp.StatusCode, body)
	}
	// Even re-signed with a higher counter, the challenge is spent.
	resigned, err := key.Assert(challengeOf(t, opts), key.Counter+5)
	if err != nil {
		t.Fatal(err)
	}
	attacker.setCookie(passkeyLoginCookie, ticket)
	if resp, body := passkeyJSON(t, attacker, "/login/passkey", loginBody(resigned)); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("spent challenge signed again: %d %s, want 401", resp.StatusCode, body)
	}
}

func challengeOf(t *testing.T, opts []byte) string {
	t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(opts, &o); err != nil {
		t.Fatal(err)
	}
	return o.PublicKey.Challenge
}

func TestPasskeyCounterGoingBackwardsIsRefusedAndAudited(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Key")
	key.Counter = 9
	if resp, body := loginWithPasskey(t, a.client(), key); resp.StatusCode != http.StatusOK {
		t.Fatalf("login at 10: %d %s", resp.StatusCode, body)
	}
	// A clone of the key, behind the original.
	visitor := a.client()
	clone, err := key.Assert(challengeOf(t, passkeyOptions(t, visitor)), 4)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := passkeyJSON(t, visitor, "/login/passkey", loginBody(clone))
	if resp.StatusCode != http.StatusUnauthorized || visitor.jar[sessions.CookieName] != nil {
		t.Fatalf("counter 4 after 10: %d %s, want 401", resp.StatusCode, body)
	}
	events, err := a.store.ListAudit(t.Context(), "alice", 20)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, e := range events {
		audited = audited || (e.Action == "passkey.counter" && e.Outcome == "failure" && strings.Contains(e.Detail, "possibly cloned"))
	}
	if !audited {
		t.Fatalf("no passkey.counter audit event: %+v", events)
	}
}

func TestPasskeyLoginRefusals(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Key")

	t.Run("an expired challenge", func(t *testing.T) {
		visitor := a.client()
		assertion, err := key.Login(passkeyOptions(t, visitor))
		if err != nil {
			t.Fatal(err)
		}
		a.clock.Advance(passkey.ChallengeTTL + time.Second)
		resp, body := passkeyJSON(t, visitor, "/login/passkey", loginBody(assertion))
		if resp.StatusCode != http.StatusBadRequest || envelope(t, body).Message != passkey.ErrNoChallenge.Error() {
			t.Fatalf("after 5 minutes: %d %s, want 400", resp.StatusCode, body)
		}
	})
	t.Run("an assertion made for another origin", func(t *testing.T) {
		phished := *key
		phished.Origin = "http://login-example.evil"
		resp, body := loginWithPasskey(t, a.client(), &phished)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong origin: %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("an unknown passkey", func(t *testing.T) {
		stranger := newKey(a)
		stranger.UserHandle = key.UserHandle
		if resp, body := loginWithPasskey(t, a.client(), stranger); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("unknown passkey: %d %s, want 401", resp.StatusCode, body)
		}
	})
	t.Run("a disabled user's right passkey", func(t *testing.T) {
		u, err := a.store.UserByUsername(t.Context(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		if _, err := a.store.SetDisabled(t.Context(), u.ID, &now); err != nil {
			t.Fatal(err)
		}
		defer a.store.SetDisabled(t.Context(), u.ID, nil)
		resp, body := loginWithPasskey(t, a.client(), key)
		if resp.StatusCode != http.StatusForbidden || envelope(t, body).Message != "Account disabled" {
			t.Fatalf("disabled: %d %s, want 403 Account disabled", resp.StatusCode, body)
		}
	})
	cases := []struct {
		name, body, cookie string
		headers            []string
		want               int
	}{
		{"no challenge cookie", `{"credential":{"id":"x"}}`, "", nil, http.StatusBadRequest},
		{"a forged challenge cookie", `{"credential":{"id":"x"}}`, "AAAA", nil, http.StatusBadRequest},
		{"no credential", `{}`, "", nil, http.StatusUnprocessableEntity},
		{"not JSON", `credential=1`, "", []string{"Content-Type", "text/plain"}, http.StatusForbidden}, // CSRF first
		{"malformed JSON", `{"credential":`, "", nil, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := a.client()
			if tc.cookie != "" {
				c.setCookie(passkeyLoginCookie, tc.cookie)
			}
			headers := tc.headers
			if headers == nil {
				headers = []string{"Content-Type", "application/json"}
			}
			resp, body := c.do(t, request("POST", "/login/passkey", tc.body, headers...))
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
			envelope(t, body)
		})
	}
	t.Run("a garbage credential with a real challenge", func(t *testing.T) {
		c := a.client()
		passkeyOptions(t, c)
		resp, body := passkeyJSON(t, c, "/login/passkey", `{"credential":{"id":"AAAA","type":"public-key","response":{}}}`)
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%d %s, want 400", resp.StatusCode, body)
		}
	})
}

func TestPasskeyFailedLoginsAreThrottledPerClient(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Key")
	stranger := newKey(a)
	stranger.UserHandle = key.UserHandle
	for i := range a.cfg.LoginMaxFailures {
		if resp, body := loginWithPasskey(t, a.client(), stranger); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d %s", i+1, resp.StatusCode, body)
		}
	}
	resp, body := loginWithPasskey(t, a.client(), key)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures even the right passkey: %d %s, want 429", a.cfg.LoginMaxFailures, resp.StatusCode, body)
	}
}

func TestPasskeyRegistrationIsBoundToTheSession(t *testing.T) {
	a := newTestApp(t, nil)
	first, second := a.client(), a.client()
	first.login(t, "alice", "password123")
	second.login(t, "alice", "password123")
	key := newKey(a)
	resp, opts := passkeyJSON(t, first, "/account/passkeys/options", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(opts, `"residentKey":"required"`) ||
		!strings.Contains(opts, `"userVerification":"required"`) || !strings.Contains(opts, `"attestation":"none"`) {
		t.Fatalf("options: %d %s", resp.StatusCode, opts)
	}
	if strings.Contains(opts, `"id":"`+fmt.Sprint(1)+`"`) {
		t.Fatalf("the user handle looks like the numeric ID: %s", opts)
	}
	cred, err := key.Register([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": "Stolen", "credential": json.RawMessage(cred)})
	if resp, out := passkeyJSON(t, second, "/account/passkeys", string(body)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("another session answered the challenge: %d %s, want 400", resp.StatusCode, out)
	}
	if resp, out := passkeyJSON(t, first, "/account/passkeys", string(body)); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the asking session: %d %s", resp.StatusCode, out)
	}
	if resp, out := passkeyJSON(t, first, "/account/passkeys", string(body)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the same answer twice: %d %s, want 400", resp.StatusCode, out)
	}
	t.Run("expired", func(t *testing.T) {
		resp, opts := passkeyJSON(t, first, "/account/passkeys/options", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatal(opts)
		}
		cred, _ := newKey(a).Register([]byte(opts))
		a.clock.Advance(passkey.ChallengeTTL + time.Second)
		body, _ := json.Marshal(map[string]any{"name": "Late", "credential": json.RawMessage(cred)})
		if resp, out := passkeyJSON(t, first, "/account/passkeys", string(body)); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("after 5 minutes: %d %s, want 400", resp.StatusCode, out)
		}
	})
	t.Run("bad names and bodies", func(t *testing.T) {
		for _, tc := range []struct {
			body string
			want int
		}{
			{`{"name":"` + strings.Repeat("n", 65) + `","credential":{}}`, http.StatusUnprocessableEntity},
			{`{"name":"x"}`, http.StatusUnprocessableEntity},
			{`{"name":"x","credential":"abc"}`, http.StatusUnprocessableEntity},
			{`[1]`, http.StatusUnprocessableEntity},
		} {
			resp, out := passkeyJSON(t, first, "/account/passkeys", tc.body)
			if resp.StatusCode != tc.want && !(resp.StatusCode == http.StatusBadRequest && tc.want == http.StatusUnprocessableEntity) {
				t.Errorf("%s: %d %s, want %d", tc.body, resp.StatusCode, out, tc.want)
			}
			envelope(t, out)
		}
	})
	t.Run("anonymous clients cannot register", func(t *testing.T) {
		if resp, _ := passkeyJSON(t, a.client(), "/account/passkeys/options", ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous options: %d", resp.StatusCode)
		}
	})
}

func TestPasskeyRemove(t *testing.T) {
	a := newTestApp(t, nil)
	alice, bob := a.client(), a.client()
	alice.login(t, "alice", "password123")
	bob.login(t, "bob", "securepass")
	key := newKey(a)
	id := registerPasskey(t, alice, key, "Old")
	second := registerPasskey(t, alice, newKey(a), "Other")

	if resp, _ := bob.do(t, request("DELETE", fmt.Sprintf("/account/passkeys/%d", id), "")); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob removing alice's passkey: %d, want 404", resp.StatusCode)
	}
	for _, bad := range []string{"0", "-1", "abc", "99999999999999999999"} {
		if resp, _ := alice.do(t, request("DELETE", "/account/passkeys/"+bad, "")); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("DELETE /account/passkeys/%s: %d, want 404", bad, resp.StatusCode)
		}
	}
	if resp, body := alice.do(t, request("DELETE", fmt.Sprintf("/account/passkeys/%d", id), "")); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("remove: %d %s", resp.StatusCode, body)
	}
	if resp, body := loginWithPasskey(t, a.client(), key); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a removed passkey logged in: %d %s", resp.StatusCode, body)
	}
	t.Run("the form twin, without JavaScript", func(t *testing.T) {
		token := alice.token(t, "/account")
		resp, body := alice.form(t, fmt.Sprintf("/account/passkeys/%d/delete", second), urlValues(csrfFormField, token))
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/account") {
			t.Fatalf("form remove: %d %s", resp.StatusCode, body)
		}
		_, page := alice.page(t, "/account")
		mustContain(t, page, "You have no passkey yet.", "The passkey has been removed.")
	})
}

func TestAdminResetRemovesPasskeys(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	key := newKey(a)
	registerPasskey(t, alice, key, "Key")
	admin := a.client()
	admin.login(t, "admin", "supersecret")
	u, _ := a.store.UserByUsername(t.Context(), "alice")
	resp, body := admin.do(t, request("DELETE", fmt.Sprintf("/admin/users/%d/second-factor", u.ID), ""))
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	if resp, body := loginWithPasskey(t, a.client(), key); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a reset passkey logged in: %d %s", resp.StatusCode, body)
	}
}

// livePasskey registers a passkey named Laptop for the session in cookies, for the
// OpenAPI examples (liveParams), and returns its authenticator.
func livePasskey(t *testing.T, a *testApp, cookies []*http.Cookie) *softkey.Authenticator {
	t.Helper()
	c := a.client()
	for _, ck := range cookies {
		c.jar[ck.Name] = ck
	}
	key := newKey(a)
	registerPasskey(t, c, key, "Laptop")
	return key
}

// livePasskeyRegistration makes the example request a real answer to a fresh challenge.
func livePasskeyRegistration(t *testing.T, a *testApp, req *http.Request) {
	t.Helper()
	c := a.client()
	for _, ck := range req.Cookies() {
		c.jar[ck.Name] = ck
	}
	resp, opts := passkeyJSON(t, c, "/account/passkeys/options", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("options: %d %s", resp.StatusCode, opts)
	}
	cred, err := newKey(a).Register([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"name": "Laptop", "credential": json.RawMessage(cred)})
	req.Body = io.NopCloser(bytes.NewReader(body))
}

// livePasskeyLogin makes the example request a real assertion of alice's passkey.
func livePasskeyLogin(t *testing.T, a *testApp, req *http.Request) {
	t.Helper()
	key := livePasskey(t, a, []*http.Cookie{a.mustLogin(t, "alice", "password123")})
	visitor := a.client()
	assertion, err := key.Login(passkeyOptions(t, visitor))
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: passkeyLoginCookie, Value: visitor.jar[passkeyLoginCookie].Value})
	req.Body = io.NopCloser(strings.NewReader(loginBody(assertion)))
}
