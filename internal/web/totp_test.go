package web

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"fiberauth/internal/auth"
	"fiberauth/internal/mfa"
	"fiberauth/internal/sessions"
)

// totpCode is the current code of secret by the app's clock.
func (a *testApp) totpCode(t testing.TB, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, a.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// nextStep moves the app's clock to the next TOTP step, so that a new code is
// accepted (an accepted code is never accepted again).
func (a *testApp) nextStep() { a.clock.Advance(30 * time.Second) }

// jsonDo sends a JSON request through the client's cookie jar.
func (c *client) jsonDo(t testing.TB, method, path, body string) (*http.Response, string) {
	t.Helper()
	return c.do(t, jsonRequest(method, path, body))
}

// jsonLogin logs in by JSON (no second factor expected).
func (c *client) jsonLogin(t testing.TB, username, password string) {
	t.Helper()
	resp, body := c.jsonDo(t, "POST", "/login", `{"username":"`+username+`","password":"`+password+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: %d %s", username, resp.StatusCode, body)
	}
}

// enrolTOTP turns TOTP on for the client's logged-in user by JSON and returns the
// secret and the recovery codes.
func enrolTOTP(t testing.TB, a *testApp, c *client) (string, []string) {
	t.Helper()
	resp, body := c.jsonDo(t, "POST", "/account/totp", `{}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /account/totp: %d %s", resp.StatusCode, body)
	}
	var e mfa.Enrolment
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Secret == "" || !strings.HasPrefix(e.URI, "otpauth://totp/") {
		t.Fatalf("enrolment: %s (%v)", body, err)
	}
	resp, body = c.jsonDo(t, "POST", "/account/totp/confirm", `{"code":"`+a.totpCode(t, e.Secret)+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}
	var codes recoveryCodesResponse
	if err := json.Unmarshal([]byte(body), &codes); err != nil || len(codes.RecoveryCodes) != mfa.RecoveryCodeCount {
		t.Fatalf("recovery codes: %s (%v)", body, err)
	}
	a.nextStep()
	return e.Secret, codes.RecoveryCodes
}

// passwordStep logs in by JSON as a user with a second factor: 202 and a pending login.
func passwordStep(t testing.TB, c *client, username, password string) {
	t.Helper()
	delete(c.jar, sessions.CookieName)
	resp, body := c.jsonDo(t, "POST", "/login", `{"username":"`+username+`","password":"`+password+`"}`)
	if resp.StatusCode != http.StatusAccepted || body != `{"message":"Second factor required","methods":["totp","recovery_code"]}` {
		t.Fatalf("password step: %d %s", resp.StatusCode, body)
	}
	if cookie(resp, sessions.CookieName) != nil {
		t.Fatal("the password step set a session cookie")
	}
	if c.jar[pendingCookie] == nil {
		t.Fatal("the password step set no pending-login cookie")
	}
}

func TestTOTPLoginByJSON(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	c.jsonLogin(t, "john", "secret123")

	t.Run("a wrong code does not confirm the enrolment", func(t *testing.T) {
		resp, body := c.jsonDo(t, "POST", "/account/totp", `{}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		resp, body = c.jsonDo(t, "POST", "/account/totp/confirm", `{"code":"12345"}`)
		if resp.StatusCode != http.StatusUnprocessableEntity || envelope(t, body).Details[0].Field != "code" {
			t.Fatalf("wrong code: %d %s", resp.StatusCode, body)
		}
	})
	before := c.jar[sessions.CookieName].Value
	secret, codes := enrolTOTP(t, a, c)
	if c.jar[sessions.CookieName].Value == before {
		t.Fatal("turning TOTP on kept the session ID")
	}
	t.Run("whoami says totp", func(t *testing.T) {
		_, body := c.jsonDo(t, "GET", "/whoami", "")
		if !strings.Contains(body, `"second_factor":"totp"`) {
			t.Fatal(body)
		}
	})

	passwordStep(t, c, "john", "secret123")
	t.Run("the pending login authenticates nothing", func(t *testing.T) {
		for _, r := range []struct{ method, path string }{
			{"GET", "/dashboard"}, {"GET", "/whoami"}, {"GET", "/account"}, {"GET", "/account/sessions"}, {"GET", "/keys"},
			{"POST", "/account/totp"}, {"POST", "/keys"},
		} {
			resp, body := c.jsonDo(t, r.method, r.path, `{}`)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s with only a pending login: %d %s", r.method, r.path, resp.StatusCode, body)
			}
		}
	})
	t.Run("a wrong code is refused", func(t *testing.T) {
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"000000"}`)
		if resp.StatusCode != http.StatusUnauthorized || envelope(t, body).Message != "Invalid code" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})
	code := a.totpCode(t, secret)
	t.Run("the right code logs in with a new session ID", func(t *testing.T) {
		pending := c.jar[pendingCookie].Value
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"`+code+`"}`)
		if resp.StatusCode != http.StatusOK || body != `{"message":"Login successful"}` {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		s := cookie(resp, sessions.CookieName)
		if s == nil || s.Value == "" || s.Value == before || s.Value == pending {
			t.Fatal("no new session ID")
		}
		if c.jar[pendingCookie] != nil {
			t.Fatal("the pending-login cookie was not cleared")
		}
		if resp, body := c.jsonDo(t, "GET", "/dashboard", ""); resp.StatusCode != http.StatusOK {
			t.Fatalf("dashboard: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("the same code is refused the second time", func(t *testing.T) {
		passwordStep(t, c, "john", "secret123")
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"`+code+`"}`)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("replayed code: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("a recovery code works once", func(t *testing.T) {
		passwordStep(t, c, "john", "secret123")
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"recovery_code":"`+strings.ToUpper(codes[0])+`"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("recovery code: %d %s", resp.StatusCode, body)
		}
		passwordStep(t, c, "john", "secret123")
		resp, body = c.jsonDo(t, "POST", "/login/verify", `{"recovery_code":"`+codes[0]+`"}`)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("recovery code used twice: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("bad bodies are a 4xx", func(t *testing.T) {
		for _, body := range []string{`{}`, `{"code":"1","recovery_code":"2"}`, `{"code":` + `"` + strings.Repeat("1", 100) + `"}`, `[]`, `{"code":1}`} {
			resp, got := c.jsonDo(t, "POST", "/login/verify", body)
			if resp.StatusCode < 400 || resp.StatusCode >= 500 {
				t.Errorf("%s: %d %s", body, resp.StatusCode, got)
			}
		}
	})
	t.Run("the audit log records both steps and holds no code", func(t *testing.T) {
		events, err := a.store.ListAudit(t.Context(), "john", 100)
		if err != nil {
			t.Fatal(err)
		}
		var steps, logins int
		for _, e := range events {
			if strings.Contains(e.Detail, code) || strings.Contains(e.Detail, codes[0]) || strings.Contains(e.Detail, secret) {
				t.Errorf("audit detail holds a secret: %+v", e)
			}
			if e.Action == "login.password" {
				steps++
			}
			if e.Action == "login" && e.Outcome == "success" && strings.HasPrefix(e.Detail, "second factor") {
				logins++
			}
		}
		if steps == 0 || logins < 2 {
			t.Fatalf("password steps %d, completed logins %d", steps, logins)
		}
	})
}

func TestTOTPAndOtherMethods(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	// A Basic credential verified (and cached) before the enrolment...
	if resp, body := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123"))); resp.StatusCode != 200 {
		t.Fatalf("basic before: %d %s", resp.StatusCode, body)
	}
	c.jsonLogin(t, "john", "secret123")
	enrolTOTP(t, a, c)
	for _, tc := range []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantMsg    string
	}{
		{"Basic with the right password is 403", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")),
			http.StatusForbidden, auth.ErrSecondFactorRequired.Message},
		{"Basic on whoami too", request("GET", "/whoami", "", "Authorization", basicAuth("john", "secret123")),
			http.StatusForbidden, auth.ErrSecondFactorRequired.Message},
		{"Basic with a wrong password stays 401", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "wrong-password")),
			http.StatusUnauthorized, "Invalid credentials"},
		{"an API key keeps working", request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123"), http.StatusOK, ""},
		{"a user without a second factor sees no change", request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123")),
			http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 2 { // the second time from the credential cache
				resp, body := a.do(t, tc.req.Clone(t.Context()))
				if resp.StatusCode != tc.wantStatus || (tc.wantMsg != "" && envelope(t, body).Message != tc.wantMsg) {
					t.Fatalf("%d %s", resp.StatusCode, body)
				}
			}
		})
	}
	t.Run("alice's JSON login is the article's", func(t *testing.T) {
		a.client().jsonLogin(t, "alice", "password123")
	})
	t.Run("an admin reset removes the factor", func(t *testing.T) {
		admin := a.client()
		admin.jsonLogin(t, "admin", "supersecret")
		resp, body := admin.jsonDo(t, "DELETE", "/admin/users/1/second-factor", "")
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		_, body = admin.jsonDo(t, "GET", "/admin/users/1", "")
		if !strings.Contains(body, `"second_factor":null`) {
			t.Fatal(body)
		}
		a.client().jsonLogin(t, "john", "secret123")
	})
}

func TestPendingLoginLimits(t *testing.T) {
	t.Run("five wrong codes end the pending login", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.client()
		c.jsonLogin(t, "john", "secret123")
		secret, _ := enrolTOTP(t, a, c)
		passwordStep(t, c, "john", "secret123")
		for i := 1; i <= mfa.MaxCodeAttempts; i++ {
			resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"000000"}`)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("wrong code %d: %d %s", i, resp.StatusCode, body)
			}
			if i == mfa.MaxCodeAttempts && envelope(t, body).Message != mfa.ErrTooManyCodes.Message {
				t.Fatalf("the fifth wrong code: %s", body)
			}
		}
		c.jar[pendingCookie] = &http.Cookie{Name: pendingCookie, Value: "kept"} // as if the browser kept it
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"`+a.totpCode(t, secret)+`"}`)
		if resp.StatusCode != http.StatusUnauthorized || cookie(resp, sessions.CookieName) != nil {
			t.Fatalf("the right code after five wrong ones: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("the pending login ends after five minutes", func(t *testing.T) {
		a := newTestApp(t, nil)
		c := a.client()
		c.jsonLogin(t, "john", "secret123")
		secret, _ := enrolTOTP(t, a, c)
		passwordStep(t, c, "john", "secret123")
		a.clock.Advance(mfa.PendingTTL + time.Second)
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"`+a.totpCode(t, secret)+`"}`)
		if resp.StatusCode != http.StatusUnauthorized || envelope(t, body).Message != mfa.ErrNoPendingLogin.Message {
			t.Fatalf("after five minutes: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("wrong codes are throttled per user across pending logins", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "3"})
		c := a.client()
		c.jsonLogin(t, "john", "secret123")
		enrolTOTP(t, a, c)
		var last int
		for range 2 {
			passwordStep(t, c, "john", "secret123")
			for range 2 {
				resp, _ := c.jsonDo(t, "POST", "/login/verify", `{"code":"000000"}`)
				last = resp.StatusCode
			}
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("the fourth wrong code of the user: %d, want 429", last)
		}
	})
}

func TestRememberedBrowserSkipsTheCode(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	c.jsonLogin(t, "john", "secret123")
	secret, _ := enrolTOTP(t, a, c)

	remember := func(t *testing.T) {
		t.Helper()
		passwordStep(t, c, "john", "secret123")
		resp, body := c.jsonDo(t, "POST", "/login/verify", `{"code":"`+a.totpCode(t, secret)+`","remember":true}`)
		a.nextStep()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		ck := cookie(resp, rememberCookie)
		if ck == nil || !ck.HttpOnly || ck.Path != "/login" || ck.MaxAge != int(mfa.RememberFor/time.Second) {
			t.Fatalf("remember cookie: %+v", ck)
		}
	}
	skips := func(t *testing.T) bool {
		t.Helper()
		delete(c.jar, sessions.CookieName)
		resp, body := c.jsonDo(t, "POST", "/login", `{"username":"john","password":"secret123"}`)
		switch resp.StatusCode {
		case http.StatusOK:
			return true
		case http.StatusAccepted:
			return false
		}
		t.Fatalf("login: %d %s", resp.StatusCode, body)
		return false
	}

	remember(t)
	if !skips(t) {
		t.Fatal("a remembered browser was asked for a code")
	}
	t.Run("it is listed with the sessions and ends there", func(t *testing.T) {
		var list struct{ Sessions []sessionResponse }
		_, body := c.jsonDo(t, "GET", "/account/sessions", "")
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		var handle string
		for _, s := range list.Sessions {
			if s.Method == methodRemembered {
				handle = s.ID
			}
		}
		if handle == "" {
			t.Fatalf("no remembered browser in %s", body)
		}
		if resp, body := c.jsonDo(t, "DELETE", "/account/sessions/"+handle, ""); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("forget: %d %s", resp.StatusCode, body)
		}
		if skips(t) {
			t.Fatal("a forgotten browser still skipped the code")
		}
	})
	t.Run("a password change ends it", func(t *testing.T) {
		remember(t)
		resp, body := c.jsonDo(t, "POST", "/account/password", `{"current_password":"secret123","new_password":"brand-new-pass"}`)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("password change: %d %s", resp.StatusCode, body)
		}
		delete(c.jar, sessions.CookieName)
		resp, body = c.jsonDo(t, "POST", "/login", `{"username":"john","password":"brand-new-pass"}`)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("after a password change: %d %s", resp.StatusCode, body)
		}
	})
}

var totpSecretPattern = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7 ]+)</code>`)
var recoveryCodePattern = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)

// TestTOTPWithoutJavaScript goes through enrolment and the two-step login with
// plain form posts, as a browser without JavaScript does.
func TestTOTPWithoutJavaScript(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	c.login(t, "john", "secret123")
	token := c.token(t, "/account")
	resp, _ := c.form(t, "/account/totp", urlValues(csrfFormField, token))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("start: %d", resp.StatusCode)
	}
	_, page := c.page(t, "/account")
	mustContain(t, page, `src="data:image/png;base64,`, `action="/account/totp/confirm"`)
	m := totpSecretPattern.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no key on the page:\n%s", page)
	}
	secret := strings.ReplaceAll(m[1], " ", "")

	resp, page = c.form(t, "/account/totp/confirm", urlValues(csrfFormField, token, "form", "confirm", "code", "123"))
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong code: %d", resp.StatusCode)
	}
	mustContain(t, page, `id="totp-code-error"`)
	resp, _ = c.form(t, "/account/totp/confirm", urlValues(csrfFormField, token, "form", "confirm", "code", a.totpCode(t, secret)))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", resp.StatusCode)
	}
	a.nextStep()
	_, page = c.page(t, "/account")
	codes := recoveryCodePattern.FindAllStringSubmatch(page, -1)
	if len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("%d recovery codes on the page", len(codes))
	}
	mustContain(t, page, `href="data:text/plain;charset=utf-8,`, `download="fiberauth-recovery-codes.txt"`, "I have saved them")
	if _, again := c.page(t, "/account"); recoveryCodePattern.MatchString(again) {
		t.Fatal("the recovery codes were shown twice")
	}

	// Log out, then in: the password, then the code page.
	token = c.token(t, "/account")
	c.form(t, "/logout", urlValues(csrfFormField, token))
	token = c.token(t, "/login")
	resp, _ = c.form(t, "/login", urlValues("username", "john", "password", "secret123", csrfFormField, token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login/verify" || c.jar[sessions.CookieName] != nil {
		t.Fatalf("password step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, page = c.page(t, "/login/verify")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("code page: %d", resp.StatusCode)
	}
	mustContain(t, page, "Use a recovery code", "Remember this browser for 30 days", `autocomplete="one-time-code"`)
	token = extractCSRFToken(t, page)
	resp, page = c.form(t, "/login/verify", urlValues(csrfFormField, token, "method", "recovery", "recovery_code", "aaaaa-aaaaa"))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong recovery code: %d", resp.StatusCode)
	}
	mustContain(t, page, html.EscapeString(mfa.ErrWrongCode.Message), "<details open>")
	resp, _ = c.form(t, "/login/verify", urlValues(csrfFormField, token, "code", a.totpCode(t, secret)))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard" || c.jar[sessions.CookieName] == nil {
		t.Fatalf("code step: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	t.Run("the code page without a pending login goes back to the login page", func(t *testing.T) {
		resp, _ := a.client().page(t, "/login/verify")
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
			t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("the code step needs a CSRF token", func(t *testing.T) {
		other := a.client()
		token := other.token(t, "/login")
		other.form(t, "/login", urlValues("username", "john", "password", "secret123", csrfFormField, token))
		if other.jar[pendingCookie] == nil {
			t.Fatal("no pending login")
		}
		resp, _ := other.form(t, "/login/verify", url.Values{"code": {a.totpCode(t, secret)}})
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

// enrolledUser registers a user with TOTP on and returns a Cookie header of their
// session and one of a pending login of theirs (its password step done).
func enrolledUser(t testing.TB, a *testApp, username, password string) (sessionHeader, pendingHeader string) {
	t.Helper()
	if _, err := a.auth.CreateUser(t.Context(), username, password, "user"); err != nil {
		t.Fatal(err)
	}
	c := a.client()
	c.jsonLogin(t, username, password)
	enrolTOTP(t, a, c)
	s := c.jar[sessions.CookieName]
	passwordStep(t, c, username, password)
	p := c.jar[pendingCookie]
	return s.Name + "=" + s.Value, p.Name + "=" + p.Value
}

// liveBodies make the bodies of documented examples that only the running app can
// know (a current TOTP code), keyed by operation; they may also change the request
// (its session, after an enrolment that renewed it).
var liveBodies = map[string]func(t *testing.T, a *testApp, req *http.Request, body []byte) []byte{
	"confirmTOTP": func(t *testing.T, a *testApp, req *http.Request, body []byte) []byte {
		c := clientOf(a, req)
		resp, got := c.jsonDo(t, "POST", "/account/totp", `{}`)
		var e mfa.Enrolment
		if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(got), &e) != nil {
			t.Fatalf("start: %d %s", resp.StatusCode, got)
		}
		return []byte(`{"code":"` + a.totpCode(t, e.Secret) + `"}`)
	},
	"disableTOTP": func(t *testing.T, a *testApp, req *http.Request, body []byte) []byte {
		secret := enrolFor(t, a, req)
		return []byte(`{"password":"password123","code":"` + a.totpCode(t, secret) + `"}`)
	},
	"regenerateRecoveryCodes": func(t *testing.T, a *testApp, req *http.Request, body []byte) []byte {
		enrolFor(t, a, req)
		return body
	},
	"verifyLogin": func(t *testing.T, a *testApp, req *http.Request, body []byte) []byte {
		c := a.client()
		c.jsonLogin(t, "alice", "password123")
		secret, _ := enrolTOTP(t, a, c)
		passwordStep(t, c, "alice", "password123")
		req.AddCookie(c.jar[pendingCookie])
		return []byte(`{"code":"` + a.totpCode(t, secret) + `"}`)
	},
}

// clientOf is a client holding the cookies of req.
func clientOf(a *testApp, req *http.Request) *client {
	c := a.client()
	for _, ck := range req.Cookies() {
		c.jar[ck.Name] = ck
	}
	return c
}

// enrolFor turns TOTP on for the session of req, which it then carries the new
// session of (turning TOTP on renews it), and returns the secret.
func enrolFor(t testing.TB, a *testApp, req *http.Request) string {
	t.Helper()
	c := clientOf(a, req)
	secret, _ := enrolTOTP(t, a, c)
	req.Header.Del("Cookie")
	req.AddCookie(c.jar[sessions.CookieName])
	return secret
}

// TestPlaygroundShowsBothSteps: for a user with a second factor, the playground's
// exchange lists the password step (202) and the code step, and a user without one
// sees the exchange as before.
func TestPlaygroundShowsBothSteps(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	c.jsonLogin(t, "john", "secret123")
	secret, _ := enrolTOTP(t, a, c)
	p := a.playground(t)
	for _, tc := range []struct {
		name       string
		form       []string
		wantStatus int
		want       []string
		notWant    []string
	}{
		{"a session route without a code stops at the 202", []string{"op", "dashboard", "auth", "session", "username", "john", "password", "secret123"},
			202, []string{"<code>POST /login</code> → <strong>202</strong>", "not sent: type a code", "not sent: there is no session"},
			[]string{"GET /dashboard HTTP/1.1"}},
		{"a session route with the code", []string{"op", "dashboard", "auth", "session", "username", "john", "password", "secret123", "code", "CODE"},
			200, []string{"<code>POST /login</code> → <strong>202</strong>", "<code>POST /login/verify</code> → <strong>200</strong>",
				"Welcome to your dashboard, john!", "<code>POST /logout</code> → <strong>200</strong>"}, nil},
		{"the login route with a wrong code", []string{"op", "login", "auth", "session", "username", "john", "password", "secret123", "code", "000000"},
			401, []string{"<code>POST /login</code> → <strong>202</strong>", "POST /login/verify HTTP/1.1", "login_pending=••••••••", "Invalid code"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := slicesReplace(tc.form, "CODE", a.totpCode(t, secret))
			a.nextStep()
			_, body := p.send(t, form...)
			if got := innerStatus(t, body); got != tc.wantStatus {
				t.Fatalf("exchange shows %d, want %d:\n%s", got, tc.wantStatus, body)
			}
			mustContain(t, body, tc.want...)
			mustNotContain(t, body, tc.notWant...)
		})
	}
}

func slicesReplace(s []string, old, new string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if v == old {
			v = new
		}
		out[i] = v
	}
	return out
}
