package web

import (
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// playSession is a browser on the playground page: its cookies and CSRF token.
type playSession struct {
	c     *client
	token string
}

func (a *testApp) playground(t testing.TB) *playSession {
	t.Helper()
	c := a.client()
	return &playSession{c: c, token: c.token(t, "/playground")}
}

// send posts the playground form as htmx does and returns the fragment, with its
// HTML entities decoded so that tests can look for text as a person reads it.
func (p *playSession) send(t testing.TB, kv ...string) (*http.Response, string) {
	t.Helper()
	resp, body := p.c.htmx(t, "POST", "/playground/send", urlValues(append(kv, csrfFormField, p.token)...), p.token)
	return resp, html.UnescapeString(body)
}

// exchangeStatus is the inner status an exchange fragment shows.
var exchangeStatus = regexp.MustCompile(`<span class="status status-[a-z]+">(\d{3}) `)

// innerStatus returns the status of the newest exchange in body.
func innerStatus(t testing.TB, body string) int {
	t.Helper()
	m := exchangeStatus.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no exchange in the answer:\n%s", body)
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// TestPlaygroundCalls sends each method's success and failure, and a few answers
// worth seeing, through the playground, and checks what the exchange shows.
func TestPlaygroundCalls(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	tests := []struct {
		name       string
		form       []string
		wantStatus int
		want       []string
		notWant    []string
	}{
		{"basic, right password", []string{"op", "basicProfile", "auth", "basic", "username", "john", "password", "secret123"}, 200,
			[]string{`"message": "Welcome john!"`, "Authorization:</span> Basic ••••••••", `curl -i -u "john:$PASSWORD"`, "HTTP Basic as john"}, nil},
		{"basic, wrong password", []string{"op", "basicProfile", "auth", "basic", "username", "john", "password", "not-it-at-all"}, 401,
			[]string{"“Invalid credentials”", "An unknown user gets the same answer", `Www-Authenticate:</span> Basic realm=`}, nil},
		{"basic, a user in the admin zone", []string{"op", "basicAdmin", "auth", "basic", "username", "john", "password", "secret123"}, 403,
			[]string{"“Admins only”", "role or the key's permissions"}, nil},
		{"api key as bearer", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_test_123", "key_in", "bearer"}, 200,
			[]string{"item1", "Authorization:</span> Bearer ••••••••", `-H "Authorization: Bearer $API_KEY"`}, nil},
		{"api key in X-API-Key", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_live_456", "key_in", "header"}, 200,
			[]string{"X-API-Key:</span> ••••••••", `-H "X-API-Key: $API_KEY"`}, []string{"Authorization:</span>"}},
		{"api key, unknown", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_nope_000"}, 401,
			[]string{"“Invalid API Key”", `error="invalid_token"`}, nil},
		{"api key, read-only key writes", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_live_456", "body", `{"name":"widget"}`}, 403,
			[]string{"“Write access required”", `{"name":"widget"}`}, nil},
		{"api key, the JSON body is echoed", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_test_123", "body", `{"name":"gadget"}`}, 200,
			[]string{"Content-Type:</span> application/json", `"name": "gadget"`, `-d '{"name":"gadget"}'`}, nil},
		{"api key, invalid JSON gets the app's own 400", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_test_123", "body", `{"name":`}, 400,
			[]string{"“Malformed JSON body”"}, nil},
		{"session, right password", []string{"op", "dashboard", "auth", "session", "username", "alice", "password", "password123"}, 200,
			[]string{"Welcome to your dashboard, alice!", "<code>POST /login</code> → <strong>200</strong>", "<code>POST /logout</code> → <strong>200</strong>",
				"Cookie:</span> session_id=••••••••", "curl -s -c jar", "curl -i -b jar", "$PASSWORD"}, nil},
		{"session, wrong password: the login is the answer", []string{"op", "dashboard", "auth", "session", "username", "alice", "password", "not-it-at-all"}, 401,
			[]string{"POST /login HTTP/1.1", "the login failed", "not sent: there is no session"}, []string{"GET /dashboard HTTP/1.1", "POST /logout</code> →"}},
		{"session on a Basic route", []string{"op", "basicProfile", "auth", "session", "username", "alice", "password", "password123"}, 401,
			[]string{"“Not authenticated”", "No credentials this route accepts"}, nil},
		{"whoami by session", []string{"op", "whoami", "auth", "session", "username", "bob", "password", "securepass"}, 200,
			[]string{`"method": "session"`, `"username": "bob"`}, nil},
		{"the login route itself", []string{"op", "login", "auth", "session", "username", "alice", "password", "password123"}, 200,
			[]string{"Login successful", `{"username":"alice","password":"••••••••"}`, "Set-Cookie:</span> session_id=••••••••;",
				"the throwaway session is ended", `"'"$PASSWORD"'"`}, nil},
		{"logout with a session", []string{"op", "logout", "auth", "session", "username", "alice", "password", "password123"}, 200,
			[]string{"Logged out successfully", "Cookie:</span> session_id=••••••••"}, []string{"the throwaway session is ended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := p.send(t, tt.form...)
			if resp.StatusCode != 200 {
				t.Fatalf("outer status %d, want 200 (the call was made): %s", resp.StatusCode, body)
			}
			if got := innerStatus(t, body); got != tt.wantStatus {
				t.Fatalf("exchange shows %d, want %d:\n%s", got, tt.wantStatus, body)
			}
			mustContain(t, body, tt.want...)
			mustNotContain(t, body, tt.notWant...)
		})
	}
}

// TestPlaygroundMasksSecrets checks that no password, key, Basic header or session
// ID appears anywhere in an exchange: only $PASSWORD and $API_KEY in the curl.
func TestPlaygroundMasksSecrets(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	tests := []struct {
		name    string
		form    []string
		secrets []string
		curl    string
	}{
		{"basic, accepted", []string{"op", "whoami", "auth", "basic", "username", "john", "password", "secret123"},
			[]string{"secret123", base64.StdEncoding.EncodeToString([]byte("john:secret123"))}, "$PASSWORD"},
		{"basic, refused", []string{"op", "basicProfile", "auth", "basic", "username", "john", "password", "Tr0ub4dor&3"},
			[]string{"Tr0ub4dor", base64.StdEncoding.EncodeToString([]byte("john:Tr0ub4dor&3"))}, "$PASSWORD"},
		{"key as bearer", []string{"op", "whoami", "auth", "api_key", "api_key", "sk_test_123"}, []string{"sk_test_123"}, "$API_KEY"},
		{"key in X-API-Key", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_live_456", "key_in", "header"}, []string{"sk_live_456"}, "$API_KEY"},
		{"key in the body too", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_test_123", "body", `{"note":"sk_test_123"}`}, []string{"sk_test_123"}, "$API_KEY"},
		{"session", []string{"op", "dashboard", "auth", "session", "username", "alice", "password", "password123"}, []string{"password123"}, "$PASSWORD"},
		{"login", []string{"op", "login", "auth", "session", "username", "alice", "password", "password123"}, []string{"password123"}, "$PASSWORD"},
	}
	sessionID := regexp.MustCompile(`session_id=[^•;\s"&]`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := p.send(t, tt.form...)
			innerStatus(t, body)
			mustNotContain(t, body, tt.secrets...)
			if m := sessionID.FindString(body); m != "" {
				t.Errorf("a session ID shows: %q", m)
			}
			curl := regexp.MustCompile(`(?s)<code id="ex-[a-z0-9]+-curl">(.*?)</code>`).FindStringSubmatch(body)
			if curl == nil || !strings.Contains(curl[1], tt.curl) {
				t.Errorf("curl does not use %s: %v", tt.curl, curl)
			}
		})
	}
}

// The calls count against the person's own address, under the app's real limits.
func TestPlaygroundMeetsTheRealLimits(t *testing.T) {
	profile := []string{"op", "basicProfile", "auth", "basic", "username", "john", "password", "secret123"}

	t.Run("the rate limit answers 429, and direct calls share its count", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "2"})
		p := a.playground(t)
		if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123"))); resp.StatusCode != 200 {
			t.Fatalf("direct call: %d", resp.StatusCode)
		}
		if _, body := p.send(t, profile...); innerStatus(t, body) != 200 {
			t.Fatalf("2nd call, by the playground: %s", body)
		}
		_, body := p.send(t, profile...)
		if got := innerStatus(t, body); got != 429 {
			t.Fatalf("3rd call: %d, want 429", got)
		}
		mustContain(t, body, "“Rate limit exceeded”", "Retry-After:</span>", "wait the Retry-After seconds")
	})

	t.Run("the failed-login throttle answers 429 to the right password", func(t *testing.T) {
		a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "2"})
		p := a.playground(t)
		for range 2 {
			p.send(t, "op", "basicProfile", "auth", "basic", "username", "john", "password", "wrong-wrong")
		}
		_, body := p.send(t, profile...)
		if got := innerStatus(t, body); got != 429 {
			t.Fatalf("after 2 failures: %d, want 429", got)
		}
		mustContain(t, body, "Too many failed logins", "the throttle refuses even the right password")
	})

	t.Run("behind a trusted proxy each forwarded client has its own count", func(t *testing.T) {
		// app.Test connects from 0.0.0.0; trusting it makes X-Forwarded-For count.
		for _, tc := range []struct {
			trusted  string
			want3rd  int
			wantFrom string
		}{{"", 429, "0.0.0.0"}, {"0.0.0.0/32", 200, "203.0.113.3"}} {
			a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "2", "TRUSTED_PROXIES": tc.trusted})
			p := a.playground(t)
			var body string
			for i := range 3 {
				values := urlValues(append(profile, csrfFormField, p.token)...)
				_, body = p.c.do(t, request("POST", "/playground/send", values.Encode(), "Content-Type", "application/x-www-form-urlencoded",
					"HX-Request", "true", "X-Csrf-Token", p.token, "X-Forwarded-For", fmt.Sprintf("203.0.113.%d", i+1)))
			}
			if got := innerStatus(t, body); got != tc.want3rd {
				t.Errorf("TRUSTED_PROXIES=%q: 3rd call from a new forwarded address got %d, want %d", tc.trusted, got, tc.want3rd)
			}
			mustContain(t, body, "from "+tc.wantFrom)
			inner := regexp.MustCompile(`"path":"/basic/profile","status":\d+,"latency_ms":[0-9.]+,"client_ip":"` + regexp.QuoteMeta(tc.wantFrom) + `"`)
			if !inner.MatchString(a.logs.String()) {
				t.Errorf("the inner call is not logged with the client's address %s:\n%s", tc.wantFrom, a.logs.String())
			}
		}
	})
}

// The session method logs in and out through the real routes, so both are audited.
func TestPlaygroundSessionIsAudited(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	_, body := p.send(t, "op", "dashboard", "auth", "session", "username", "alice", "password", "password123")
	if innerStatus(t, body) != 200 {
		t.Fatal(body)
	}
	p.send(t, "op", "dashboard", "auth", "session", "username", "alice", "password", "nope-nope-nope")
	events, err := a.auth.RecentAudit(t.Context(), "alice", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Action+":"+e.Outcome+"@"+e.ClientIP)
	}
	for _, want := range []string{"login:success@0.0.0.0", "logout:success@0.0.0.0", "login:failure@0.0.0.0"} {
		if !strings.Contains(strings.Join(got, " "), want) {
			t.Errorf("audit lacks %s: %v", want, got)
		}
	}
}

// What the playground refuses never reaches the app: the field at fault is shown
// in the form, with 422.
func TestPlaygroundRefusesBadInput(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	ok := []string{"auth", "basic", "username", "john", "password", "secret123"}
	tests := []struct {
		name      string
		form      []string
		wantField string
		want      string
	}{
		{"an unknown route name", append([]string{"op", "deleteEverything"}, ok...), "op", "Endpoint must be one of the listed endpoints"},
		{"a path instead of a name", append([]string{"op", "/admin/users"}, ok...), "op", "Endpoint must be one of the listed endpoints"},
		{"a URL instead of a name", append([]string{"op", "http://169.254.169.254/latest/meta-data/"}, ok...), "op", "Endpoint must be one of"},
		{"a route the playground does not call", append([]string{"op", "adminUsers"}, ok...), "op", "Endpoint must be one of"},
		{"an unknown method", []string{"op", "basicProfile", "auth", "kerberos", "username", "john", "password", "x"}, "auth", "Method must be HTTP Basic"},
		{"login with Basic", append([]string{"op", "login"}, ok...), "auth", "POST /login is how a session starts"},
		{"no username", []string{"op", "basicProfile", "auth", "basic", "password", "x"}, "username", "Username is required"},
		{"a colon in a Basic username", []string{"op", "basicProfile", "auth", "basic", "username", "jo:hn", "password", "x"}, "username", "must not contain a colon"},
		{"a newline in a username", []string{"op", "dashboard", "auth", "session", "username", "jo\nhn", "password", "x"}, "username", "printable"},
		{"no key", []string{"op", "apiKeyData", "auth", "api_key"}, "api_key", "API key is required"},
		{"a key with a space", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_test 123"}, "api_key", "without spaces"},
		{"a key with a header in it", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk\r\nX-Evil: 1"}, "api_key", "without spaces"},
		{"an oversize body", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_test_123", "body", `{"x":"` + strings.Repeat("a", 16<<10) + `"}`}, "body", "Body must be at most 16 KiB"},
		{"a key sent nowhere", []string{"op", "apiKeyData", "auth", "api_key", "api_key", "sk_test_123", "key_in", "query"}, "key_in", "must be Authorization: Bearer or X-API-Key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(a.logs.String(), `"msg":"request"`)
			resp, body := p.send(t, tt.form...)
			if resp.StatusCode != 422 || resp.Header.Get("HX-Retarget") != "#playground-form" {
				t.Fatalf("%d retarget %q, want 422 into the form:\n%s", resp.StatusCode, resp.Header.Get("HX-Retarget"), body)
			}
			errID := map[string]string{"api_key": "play-key-error", "key_in": "play-key-in-error"}[tt.wantField]
			if errID == "" {
				errID = "play-" + tt.wantField + "-error"
			}
			mustContain(t, body, `id="playground-form"`, "Please correct the marked fields.", tt.want, `id="`+errID+`"`)
			mustNotContain(t, body, "<html", `class="card exchange`)
			// Only the form post itself was logged: no call reached the app.
			if after := strings.Count(a.logs.String(), `"msg":"request"`); after != before+1 {
				t.Errorf("%d requests logged for one refused form", after-before)
			}
		})
	}
}

func TestPlaygroundNeedsCSRFToken(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	form := urlValues("op", "basicProfile", "auth", "basic", "username", "john", "password", "secret123")
	tests := []struct {
		name string
		req  *http.Request
		want []string
	}{
		{"plain form without a token", request("POST", "/playground/send", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"),
			[]string{"<html", "This form has expired"}},
		{"htmx without a token", request("POST", "/playground/send", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true"),
			[]string{`id="playground-form"`, "This form has expired"}},
		{"a wrong token", request("POST", "/playground/send", form.Encode(), "Content-Type", "application/x-www-form-urlencoded", "HX-Request", "true", "X-Csrf-Token", "forged"),
			[]string{"This form has expired"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := strings.Count(a.logs.String(), `"path":"/basic/profile"`)
			resp, body := p.c.do(t, tt.req)
			if resp.StatusCode != 403 {
				t.Fatalf("%d, want 403: %s", resp.StatusCode, body)
			}
			mustContain(t, body, tt.want...)
			if strings.Count(a.logs.String(), `"path":"/basic/profile"`) != before {
				t.Error("the call was made without a token")
			}
		})
	}
}

// htmx gets one exchange as a fragment to put above the others; a browser without
// JavaScript posts the form and gets the whole page with the form and the exchange.
func TestPlaygroundPageAndFragment(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	form := []string{"op", "basicAdmin", "auth", "basic", "username", "admin", "password", "supersecret"}

	resp, body := p.send(t, form...)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Vary"), "HX-Request") {
		t.Fatalf("htmx: %d Vary %q", resp.StatusCode, resp.Header.Get("Vary"))
	}
	if strings.Count(body, `class="card exchange`) != 1 || strings.Contains(body, "<html") || strings.Contains(body, `id="playground-form"`) {
		t.Errorf("htmx answer is not one exchange fragment:\n%s", body)
	}

	resp, body = p.c.form(t, "/playground/send", urlValues(append(form, csrfFormField, p.token)...))
	body = html.UnescapeString(body)
	if resp.StatusCode != 200 {
		t.Fatalf("plain form: %d", resp.StatusCode)
	}
	mustContain(t, body, "<html", `id="playground-form"`, `value="basicAdmin" data-auth="basic"`, "You're in the admin zone.",
		`id="exchanges"`, `hx-swap="afterbegin"`)
	if strings.Count(body, `class="card exchange`) != 1 {
		t.Error("the whole page does not show exactly one exchange")
	}
	mustContain(t, body, `<option value="basicAdmin"`)
	if !regexp.MustCompile(`value="basicAdmin"[^>]*selected`).MatchString(body) {
		t.Error("the route tried is not selected in the form again")
	}
}

// The call re-enters the app while the outer request is in flight: the outer
// request keeps its own ID, status and headers, and parallel tries do not mix.
// Run with -race.
func TestPlaygroundReentrancy(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "1000"})
	p := a.playground(t)
	values := urlValues("op", "whoami", "auth", "basic", "username", "john", "password", "secret123", csrfFormField, p.token)
	resp, body := p.c.do(t, request("POST", "/playground/send", values.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"HX-Request", "true", "X-Csrf-Token", p.token, "X-Request-ID", "outer-req-1"))
	body = html.UnescapeString(body)
	if got := resp.Header.Get("X-Request-Id"); got != "outer-req-1" {
		t.Errorf("outer X-Request-Id %q", got)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || resp.StatusCode != 200 {
		t.Errorf("outer answer %d %q", resp.StatusCode, ct)
	}
	if resp.Header.Get("X-Ratelimit-Limit") != "" || resp.Header.Get("Www-Authenticate") != "" {
		t.Error("the inner response's headers leaked into the outer one")
	}
	mustContain(t, body, "X-Request-ID:</span> outer-req-1-1", "X-Request-Id:</span> outer-req-1-1")

	users := []struct{ name, pass string }{{"john", "secret123"}, {"alice", "password123"}, {"bob", "securepass"}, {"admin", "supersecret"}}
	var wg sync.WaitGroup
	for i := range 16 {
		u := users[i%len(users)]
		wg.Go(func() {
			s := a.playground(t)
			_, body := s.send(t, "op", "whoami", "auth", []string{"basic", "session"}[i%2], "username", u.name, "password", u.pass)
			if !strings.Contains(body, `"username": "`+u.name+`"`) {
				t.Errorf("try %d as %s shows someone else:\n%s", i, u.name, body)
			}
		})
	}
	wg.Wait()
}

func TestPlaygroundPage(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		path    string
		want    []*regexp.Regexp
		notWant []string
	}{
		{"defaults, with demo values", nil, "/playground", []*regexp.Regexp{
			regexp.MustCompile(`value="basicProfile"[^>]*selected`),
			regexp.MustCompile(`name="auth" value="basic" checked`),
			regexp.MustCompile(`id="play-username"[^>]*value="john"`),
			regexp.MustCompile(`id="play-password"[^>]*value="secret123"`),
			regexp.MustCompile(`id="play-key"[^>]*value="sk_test_123"`),
			regexp.MustCompile(`(?s)<textarea[^>]*name="body"[^>]*>\{"name":"widget"\}</textarea>`),
		}, nil},
		{"try it from the docs", nil, "/playground?op=basicAdmin", []*regexp.Regexp{
			regexp.MustCompile(`value="basicAdmin"[^>]*selected`),
			regexp.MustCompile(`id="play-username"[^>]*value="admin"`),
		}, nil},
		{"a route made for keys preselects the key", nil, "/playground?op=apiKeyCreate", []*regexp.Regexp{
			regexp.MustCompile(`name="auth" value="api_key" checked`),
		}, nil},
		{"an unknown op falls back to the first", nil, "/playground?op=../../etc", []*regexp.Regexp{
			regexp.MustCompile(`value="basicProfile"[^>]*selected`),
		}, []string{"../../etc"}},
		{"without demo data nothing is prefilled", map[string]string{"DEMO_DATA": "false"}, "/playground", []*regexp.Regexp{
			regexp.MustCompile(`id="play-password"[^>]*value=""`),
		}, []string{"secret123", "sk_test_123", `value="john"`, "data-password"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, tt.env)
			resp, body := a.client().page(t, tt.path)
			if resp.StatusCode != 200 {
				t.Fatalf("%d", resp.StatusCode)
			}
			body = html.UnescapeString(body)
			for _, re := range tt.want {
				if !re.MatchString(body) {
					t.Errorf("page does not match %s", re)
				}
			}
			mustNotContain(t, body, tt.notWant...)
			for _, id := range playableOps {
				mustContain(t, body, `<option value="`+id+`"`)
			}
		})
	}
}

func TestShellQuoting(t *testing.T) {
	tests := []struct{ got, want string }{
		{shellSingle(`{"a":"it's"}`), `'{"a":"it'\''s"}'`},
		{shellDouble(`j"o$h`+"`n\\:", "$PASSWORD"), `"j\"o\$h` + "\\`n\\\\:" + `$PASSWORD"`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
	// A username that tries to break out of the quotes stays inside them.
	in := playInput{Op: playOp{ID: "basicProfile", Method: "GET", Path: "/basic/profile"}, Auth: authBasic, Username: `x"; rm -rf ~; echo "`}
	curl := curlFor("http://h", in, in.Op, innerCall{})
	if !strings.Contains(curl, `-u "x\"; rm -rf ~; echo \":$PASSWORD"`) {
		t.Errorf("curl: %s", curl)
	}
}

// The curl command an exchange shows, run in a real shell with the secret in its
// variable, makes the same call and gets the same answer.
func TestPlaygroundCurlReproducesTheCall(t *testing.T) {
	sh, errSh := exec.LookPath("sh")
	_, errCurl := exec.LookPath("curl")
	if errSh != nil || errCurl != nil {
		t.Skip("needs sh and curl")
	}
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "1000"})
	base := a.serve(t)
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	pageReq, _ := http.NewRequest("GET", base+"/playground", nil)
	pageReq.Header.Set("Accept", "text/html") // as a browser asks, so the page carries a CSRF token
	get, err := hc.Do(pageReq)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(get.Body)
	get.Body.Close()
	token := extractCSRFToken(t, string(page))

	tests := []struct {
		name   string
		form   []string
		secret string
		want   string
	}{
		{"basic", []string{"op", "basicProfile", "auth", "basic", "username", "john", "password", "secret123"}, "PASSWORD=secret123", `{"message":"Welcome john!"}`},
		{"key in X-API-Key", []string{"op", "whoami", "auth", "api_key", "api_key", "sk_live_456", "key_in", "header"}, "API_KEY=sk_live_456", `"method":"api_key"`},
		{"a body with a quote", []string{"op", "apiKeyCreate", "auth", "api_key", "api_key", "sk_test_123", "body", `{"name":"it's"}`}, "API_KEY=sk_test_123", `"item":{"name":"it's"}`},
		{"session", []string{"op", "dashboard", "auth", "session", "username", "alice", "password", "password123"}, "PASSWORD=password123", `{"message":"Welcome to your dashboard, alice!"}`},
		{"login", []string{"op", "login", "auth", "session", "username", "bob", "password", "securepass"}, "PASSWORD=securepass", `{"message":"Login successful"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/playground/send", strings.NewReader(urlValues(append(tt.form, csrfFormField, token)...).Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("HX-Request", "true")
			req.Header.Set("X-Csrf-Token", token)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			m := regexp.MustCompile(`(?s)<code id="ex-[a-z0-9]+-curl">(.*?)</code>`).FindStringSubmatch(string(b))
			if m == nil {
				t.Fatalf("no curl command in:\n%s", b)
			}
			script := html.UnescapeString(m[1])
			cmd := exec.CommandContext(t.Context(), sh, "-c", script)
			cmd.Dir = t.TempDir() // the cookie jar file goes here
			cmd.Env = append(os.Environ(), tt.secret)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v\n%s\n%s", err, script, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("curl answered:\n%s\nwant %s\nscript:\n%s", out, tt.want, script)
			}
		})
	}
}
