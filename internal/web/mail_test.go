package web

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/recovery"
	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
)

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9_-]{43})`)

// lastLink is the token in the newest mail to an address, failing without one.
func (a *testApp) lastLink(t testing.TB, to string) string {
	t.Helper()
	a.processResets(t)
	mail, err := a.store.ListMail(t.Context(), 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mail {
		if strings.EqualFold(m.To, to) {
			match := tokenInLink.FindStringSubmatch(m.Text)
			if match == nil {
				t.Fatalf("no link in %q", m.Text)
			}
			return match[1]
		}
	}
	t.Fatalf("no mail to %s", to)
	return ""
}

// processResets does the worker's job now: waiting reset requests become mail.
func (a *testApp) processResets(t testing.TB) {
	t.Helper()
	if _, err := a.recovery.ProcessResetRequests(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func (a *testApp) mailCount(t testing.TB) int {
	t.Helper()
	a.processResets(t)
	mail, err := a.store.ListMail(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(mail)
}

func forgot(login string) *http.Request {
	b, _ := json.Marshal(map[string]string{"login": login})
	return jsonRequest("POST", "/password/forgot", string(b))
}

func resetWith(token, password string) *http.Request {
	b, _ := json.Marshal(map[string]string{"token": token, "new_password": password})
	return jsonRequest("POST", "/password/reset", string(b))
}

// comparableHeaders are a response's headers without those that differ by request
// in any case.
func comparableHeaders(h http.Header) http.Header {
	out := h.Clone()
	for _, k := range []string{"Date", "X-Request-Id", "X-Ratelimit-Remaining", "X-Ratelimit-Reset"} {
		out.Del(k)
	}
	return out
}

// Asking for a reset answers the same for an account that exists and one that does
// not: status, body and headers; only a known account with a verified address gets mail.
func TestForgotPasswordAnswersTheSameForAnyone(t *testing.T) {
	a := newTestApp(t, nil)
	known := []string{"alice", "john@example.com", "BOB@EXAMPLE.COM", " admin "}
	unknown := []string{"nobody", "nobody@example.com", "x@y", strings.Repeat("a", 254), "名前"}
	var first *http.Response
	var firstBody string
	for _, login := range append(slices.Clone(known), unknown...) {
		before := a.mailCount(t)
		resp, body := a.do(t, forgot(login))
		if resp.StatusCode != http.StatusAccepted || body != `{"message":"If an account matches, a reset link is on its way."}` {
			t.Fatalf("%q: %d %s", login, resp.StatusCode, body)
		}
		if first == nil {
			first, firstBody = resp, body
		} else if got, want := comparableHeaders(resp.Header), comparableHeaders(first.Header); !equalHeaders(got, want) || body != firstBody {
			t.Errorf("%q: headers %v, want %v", login, got, want)
		}
		wantMail := 0
		if slices.Contains(known, login) {
			wantMail = 1
		}
		if got := a.mailCount(t) - before; got != wantMail {
			t.Errorf("%q: %d mails queued, want %d", login, got, wantMail)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// The reset link sets a new password once; every session and cached Basic
// credential of the old password ends.
func TestPasswordResetEndsEverySessionAndCredential(t *testing.T) {
	a := newTestApp(t, nil)
	session := a.mustLogin(t, "alice", "password123")
	oldBasic := basicAuth("alice", "password123")
	if resp, body := a.do(t, request("GET", "/basic/profile", "", "Authorization", oldBasic)); resp.StatusCode != 200 {
		t.Fatalf("basic before: %d %s", resp.StatusCode, body) // now cached
	}
	if resp, _ := a.do(t, forgot("alice")); resp.StatusCode != http.StatusAccepted {
		t.Fatal(resp.StatusCode)
	}
	token := a.lastLink(t, "alice@example.com")

	resp, body := a.do(t, resetWith(token, "a-new-password"))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), session)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the session from before the reset: %d, want 401", resp.StatusCode)
	}
	if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", oldBasic)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the cached old password: %d, want 401", resp.StatusCode)
	}
	if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "a-new-password"))); resp.StatusCode != 200 {
		t.Errorf("the new password: %d, want 200", resp.StatusCode)
	}
	resp, body = a.do(t, resetWith(token, "another-password"))
	if e := envelope(t, body); resp.StatusCode != http.StatusUnprocessableEntity || len(e.Details) == 0 || e.Details[0].Field != "token" {
		t.Errorf("the link again: %d %s, want 422 on token", resp.StatusCode, body)
	}
	events, _ := a.store.ListAudit(t.Context(), "alice", 10)
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+"/"+e.Outcome)
	}
	for _, want := range []string{"password.reset/success", "password.reset.request/success"} {
		if !slices.Contains(actions, want) {
			t.Errorf("audit %v lacks %s", actions, want)
		}
	}
}

// A link is void after 30 minutes, once a newer one is sent, and once the password
// changes; a malformed one is refused the same way.
func TestResetLinksThatNoLongerWork(t *testing.T) {
	tests := []struct {
		name  string
		spoil func(t *testing.T, a *testApp, token string)
	}{
		{"after 30 minutes", func(t *testing.T, a *testApp, _ string) { a.clock.Advance(30*time.Minute + time.Second) }},
		{"once a newer one is sent", func(t *testing.T, a *testApp, _ string) {
			a.clock.Advance(time.Second)
			a.do(t, forgot("alice@example.com"))
			a.processResets(t)
		}},
		{"once the password changes", func(t *testing.T, a *testApp, _ string) {
			c := a.mustLogin(t, "alice", "password123")
			resp, body := a.do(t, withCookie(jsonRequest("POST", "/account/password",
				`{"current_password":"password123","new_password":"changed-it-myself"}`), c))
			if resp.StatusCode != 200 {
				t.Fatalf("change: %d %s", resp.StatusCode, body)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, nil)
			a.do(t, forgot("alice"))
			token := a.lastLink(t, "alice@example.com")
			tt.spoil(t, a, token)
			resp, body := a.do(t, resetWith(token, "a-new-password"))
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s, want 422", resp.StatusCode, body)
			}
			resp, _ = a.do(t, request("GET", "/password/reset?token="+token, "", "Accept", "text/html"))
			if resp.StatusCode != 200 {
				t.Errorf("the page: %d", resp.StatusCode)
			}
		})
	}
	t.Run("malformed or missing", func(t *testing.T) {
		a := newTestApp(t, nil)
		for _, body := range []string{`{"token":"x","new_password":"a-new-password"}`, `{"new_password":"a-new-password"}`,
			`{"token":"` + strings.Repeat("A", 43) + `","new_password":"a-new-password"}`, `{"token":5}`, `[]`, `{`} {
			resp, got := a.do(t, jsonRequest("POST", "/password/reset", body))
			if resp.StatusCode != 422 && resp.StatusCode != 400 {
				t.Errorf("%s: %d %s", body, resp.StatusCode, got)
			}
		}
	})
}

// Of two resets with one link at the same moment, exactly one succeeds.
func TestResetTokenIsSingleUseUnderParallelResets(t *testing.T) {
	a := newTestApp(t, nil)
	a.do(t, forgot("john"))
	token := a.lastLink(t, "john@example.com")
	got := testenv.Statuses(t, 2, func(i int) (*http.Response, error) {
		return a.app.Test(resetWith(token, "parallel-password-"+string(rune('a'+i))), -1)
	})
	if got[http.StatusOK] != 1 || got[http.StatusUnprocessableEntity] != 1 {
		t.Fatalf("statuses %v, want one 200 and one 422", got)
	}
}

func TestAccountEmailChangeAndVerification(t *testing.T) {
	a := newTestApp(t, nil)
	john := a.mustLogin(t, "john", "secret123")
	post := func(body string) (*http.Response, string) {
		return a.do(t, withCookie(jsonRequest("POST", "/account/email", body), john))
	}
	resp, body := post(`{"email":" John.New@Example.COM "}`)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("change: %d %s", resp.StatusCode, body)
	}
	token := a.lastLink(t, "John.New@example.com")
	u, _ := a.store.UserByUsername(t.Context(), "john")
	if u.Email != "John.New@example.com" || u.EmailVerifiedAt != nil {
		t.Fatalf("stored %q verified %v: want the normalised address, unverified", u.Email, u.EmailVerifiedAt)
	}
	resp, body = a.do(t, request("GET", "/account/email/verify?token="+url.QueryEscape(token), ""))
	if resp.StatusCode != 200 {
		t.Fatalf("verify: %d %s", resp.StatusCode, body)
	}
	if u, _ := a.store.UserByUsername(t.Context(), "john"); u.EmailVerifiedAt == nil {
		t.Fatal("not verified")
	}
	if resp, _ := a.do(t, request("GET", "/account/email/verify?token="+url.QueryEscape(token), "")); resp.StatusCode != 422 {
		t.Errorf("the link again: %d, want 422", resp.StatusCode)
	}
	for _, tt := range []struct {
		body  string
		want  int
		field string
	}{
		{`{"email":"ALICE@example.COM"}`, http.StatusConflict, ""}, // alice's, ignoring case
		{`{"email":"not an address"}`, 422, "email"},
		{`{"email":"Alice <a@example.com>"}`, 422, "email"},
		{`{"email":"a@localhost"}`, 422, "email"},
		{`{"email":""}`, 422, "email"},
		{`{"email":"` + strings.Repeat("a", 250) + `@example.com"}`, 422, "email"},
	} {
		resp, body := post(tt.body)
		e := envelope(t, body)
		if resp.StatusCode != tt.want || (tt.field != "" && (len(e.Details) == 0 || e.Details[0].Field != tt.field)) ||
			(tt.field == "" && e.Message != "Email is already in use") {
			t.Errorf("%s: %d %s, want %d on %s", tt.body, resp.StatusCode, body, tt.want, tt.field)
		}
	}
	if resp, _ := a.do(t, jsonRequest("POST", "/account/email", `{"email":"x@example.com"}`)); resp.StatusCode != 401 {
		t.Errorf("without a session: %d", resp.StatusCode)
	}
}

func TestRegisterWithAnEmailAddress(t *testing.T) {
	a := newTestApp(t, nil)
	resp, body := a.do(t, jsonRequest("POST", "/register", `{"username":"carol","password":"carols-password","email":"Carol@Example.org"}`))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	token := a.lastLink(t, "Carol@example.org")
	if resp, _ := a.do(t, request("GET", "/account/email/verify?token="+token, "")); resp.StatusCode != 200 {
		t.Fatalf("verify: %d", resp.StatusCode)
	}
	resp, body = a.do(t, jsonRequest("POST", "/register", `{"username":"carol2","password":"carols-password","email":"carol@example.ORG"}`))
	if e := envelope(t, body); resp.StatusCode != http.StatusConflict || e.Message != "Email is already in use" {
		t.Errorf("a taken address: %d %s", resp.StatusCode, body)
	}
	if _, err := a.store.UserByUsername(t.Context(), "carol2"); err == nil {
		t.Error("the refused sign-up left a user behind")
	}
	resp, body = a.do(t, jsonRequest("POST", "/register", `{"username":"dave","password":"x","email":"nope"}`))
	if e := envelope(t, body); resp.StatusCode != 422 || len(e.Details) != 2 {
		t.Errorf("bad password and address: %d %s, want both fields", resp.StatusCode, body)
	}
}

// Per client, the eleventh request in the window is a 429; per account, the fourth
// still answers 202 but queues no mail.
func TestForgotPasswordIsLimited(t *testing.T) {
	a := newTestApp(t, nil)
	for i := range forgotPerClient {
		resp, _ := a.do(t, forgot("alice"))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d: %d", i+1, resp.StatusCode)
		}
	}
	if got := a.mailCount(t); got != forgotPerAccount {
		t.Errorf("%d mails for one account, want %d", got, forgotPerAccount)
	}
	resp, body := a.do(t, forgot("bob"))
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("over the client limit: %d %s", resp.StatusCode, body)
	}
}

func TestDevMailbox(t *testing.T) {
	a := newTestApp(t, nil)
	a.do(t, forgot("alice"))
	a.clock.Advance(time.Second)
	a.do(t, forgot("bob"))
	a.processResets(t)
	resp, body := a.do(t, request("GET", "/dev/mailbox", ""))
	var got struct {
		Messages []struct {
			To, Subject, Text string
			SentAt            *time.Time `json:"sent_at"`
		}
	}
	if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil || len(got.Messages) != 2 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if got.Messages[0].To != "bob@example.com" || got.Messages[0].SentAt != nil || !strings.Contains(got.Messages[0].Text, "/password/reset?token=") {
		t.Errorf("newest %+v", got.Messages[0])
	}
	resp, body = a.do(t, request("GET", "/dev/mailbox", "", "Accept", "text/html"))
	if resp.StatusCode != 200 || !strings.Contains(body, `<a href="http://localhost:3000/password/reset?token=`) {
		t.Errorf("page: %d, no clickable link", resp.StatusCode)
	}

	prod := newTestApp(t, map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com",
		"SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "DEMO_DATA": "false", "BCRYPT_COST": "10"})
	if resp, _ := prod.do(t, request("GET", "/dev/mailbox", "")); resp.StatusCode != 404 {
		t.Errorf("production mailbox: %d, want 404", resp.StatusCode)
	}
	if resp, body := prod.do(t, forgot("alice")); resp.StatusCode != 503 {
		t.Errorf("production without SMTP_URL: %d %s, want 503", resp.StatusCode, body)
	}
}

// The browser forms: forgot and reset without JavaScript (PRG), ending at the login page.
func TestPasswordResetForms(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	csrf := c.token(t, "/password/forgot")
	resp, body := c.form(t, "/password/forgot", url.Values{"login": {"alice"}, csrfFormField: {csrf}})
	if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, "If an account matches") {
		t.Fatalf("forgot: %d", resp.StatusCode)
	}
	token := a.lastLink(t, "alice@example.com")
	csrf = c.token(t, "/password/reset?token="+token)
	resp, _ = c.form(t, "/password/reset", url.Values{"token": {token}, "new_password": {"a-new-password"},
		"confirm_password": {"a-new-password"}, csrfFormField: {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("reset: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := a.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"a-new-password"}`)); resp.StatusCode != 200 {
		t.Errorf("login with the new password: %d", resp.StatusCode)
	}
	if _, body := c.page(t, "/login"); !strings.Contains(body, "Your password has been reset") {
		t.Error("the login page does not say the password was reset")
	}
}

// liveToken stores token as alice's live token of the purpose, as if mailed.
func (a *testApp) liveToken(t *testing.T, purpose, token string) {
	t.Helper()
	u, err := a.store.UserByUsername(t.Context(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	tok := store.EmailToken{Purpose: purpose, Digest: recovery.TokenDigest(token), Email: u.Email, ExpiresAt: a.clock.Now().Add(time.Minute)}
	m := store.OutboxMessage{MessageID: strings.ToLower(rand.Text()) + "@example.com", To: u.Email, Subject: "test", Text: "test"}
	if purpose == store.TokenVerify {
		err = a.store.SetEmail(t.Context(), u.ID, tok, m)
	} else {
		err = a.store.QueueReset(t.Context(), u.ID, tok, m)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// The email routes follow the CSRF rule: the forgot and reset forms like a login
// form, the address change like any session route.
func TestEmailRoutesFollowTheCSRFRule(t *testing.T) {
	const form, evil = "application/x-www-form-urlencoded", "https://evil.example"
	tests := []struct {
		name     string
		loggedIn bool
		path     string
		ctype    string
		body     string
		headers  []string
		want     int
	}{
		{"forgot form without a token", false, "/password/forgot", form, "login=alice", nil, 403},
		{"forgot form with the token", false, "/password/forgot", form, "login=alice&_csrf={token}", nil, 202},
		{"forgot JSON from another origin", false, "/password/forgot", "application/json", `{"login":"alice"}`, []string{"Origin", evil}, 403},
		{"reset form without a token", false, "/password/reset", form, "token=x&new_password=a-new-password&confirm_password=a-new-password", nil, 403},
		{"reset JSON from another origin", false, "/password/reset", "application/json", `{"token":"x","new_password":"a-new-password"}`, []string{"Origin", evil}, 403},
		{"address form without a token", true, "/account/email", form, "email=a@example.org", nil, 403},
		{"address form with the token", true, "/account/email", form, "email=a@example.org&_csrf={token}", nil, 303},
		{"address JSON from another origin", true, "/account/email", "application/json", `{"email":"a@example.org"}`, []string{"Origin", evil}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, nil)
			c := a.client()
			var token string
			if tt.loggedIn {
				c.login(t, "alice", "password123")
				token = c.token(t, "/account")
			} else {
				token = c.token(t, "/password/forgot")
			}
			headers := append([]string{"Content-Type", tt.ctype, "Accept", "text/html"}, tt.headers...)
			resp, body := c.do(t, request("POST", tt.path, strings.ReplaceAll(tt.body, "{token}", token), headers...))
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %.300s", resp.StatusCode, tt.want, body)
			}
		})
	}
}
