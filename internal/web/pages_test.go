package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"fiberauth/internal/sessions"
	"fiberauth/public"
)

// TestSamePathsServeBothWorlds checks that /login, /dashboard and /logout answer
// the article's JSON clients exactly as before and browsers with HTML.
func TestSamePathsServeBothWorlds(t *testing.T) {
	a := newTestApp(t, nil)

	t.Run("JSON clients get the article's bodies byte for byte", func(t *testing.T) {
		c := a.client()
		steps := []struct {
			req        *http.Request
			wantStatus int
			wantBody   string
		}{
			{jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), 200, `{"message":"Login successful"}`},
			{request("GET", "/dashboard", ""), 200, `{"message":"Welcome to your dashboard, alice!"}`},
			{request("POST", "/logout", ""), 200, `{"message":"Logged out successfully"}`},
			{request("GET", "/dashboard", ""), 401, `{"error":{"message":"Not authenticated","type":"authentication_error","status_code":401}}`},
			{jsonRequest("POST", "/login", `{"username":"alice","password":"wrong-one"}`), 401, `{"error":{"message":"Invalid credentials","type":"authentication_error","status_code":401}}`},
		}
		for _, s := range steps {
			resp, body := c.do(t, s.req)
			if resp.StatusCode != s.wantStatus || body != s.wantBody {
				t.Errorf("%s %s: %d %s, want %d %s", s.req.Method, s.req.URL, resp.StatusCode, body, s.wantStatus, s.wantBody)
			}
		}
	})

	t.Run("a browser without a session is sent to log in and back", func(t *testing.T) {
		tests := []struct {
			name       string
			headers    []string
			wantStatus int
			wantHeader string
			wantValue  string
		}{
			{"navigation", []string{"Accept", "text/html"}, 303, "Location", "/login?next=%2Fdashboard"},
			{"htmx", []string{"HX-Request", "true", "HX-Current-URL", "http://example.com/dashboard"}, 204, "HX-Redirect", "/login?next=%2Fdashboard"},
			{"curl", []string{"Accept", "*/*"}, 401, "Content-Type", "application/json"},
			{"JSON", []string{"Accept", "application/json"}, 401, "Content-Type", "application/json"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := a.do(t, request("GET", "/dashboard", "", tt.headers...))
				if resp.StatusCode != tt.wantStatus || !strings.HasPrefix(resp.Header.Get(tt.wantHeader), tt.wantValue) {
					t.Errorf("%d %s=%q, want %d %q: %s", resp.StatusCode, tt.wantHeader, resp.Header.Get(tt.wantHeader), tt.wantStatus, tt.wantValue, body)
				}
			})
		}
	})

	t.Run("login sends the browser back to next", func(t *testing.T) {
		c := a.client()
		token := c.token(t, "/login?next=/account")
		resp, _ := c.form(t, "/login", urlValues("username", "alice", "password", "password123", "next", "/account", csrfFormField, token))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account" {
			t.Fatalf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, body := c.page(t, "/dashboard")
		if resp.StatusCode != 200 {
			t.Fatalf("dashboard: %d", resp.StatusCode)
		}
		mustContain(t, body, "Hello, alice", "How you logged in", "Your API keys", "Your recent activity")
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control %q", got)
		}
		if v := strings.Join(resp.Header.Values("Vary"), ","); !strings.Contains(v, "HX-Request") || !strings.Contains(v, "Accept") {
			t.Errorf("Vary %q", v)
		}
	})

	t.Run("htmx login: inline error on failure, HX-Redirect on success", func(t *testing.T) {
		c := a.client()
		token := c.token(t, "/login")
		resp, body := c.htmx(t, "POST", "/login", urlValues("username", "alice", "password", "wrong-one"), token)
		if resp.StatusCode != 401 || resp.Header.Get("HX-Retarget") != "#login-form" {
			t.Fatalf("failure: %d retarget %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
		mustContain(t, body, `id="login-form"`, `role="alert"`, "Invalid credentials", `value="alice"`)
		mustNotContain(t, body, "<html", "wrong-one")
		resp, _ = c.htmx(t, "POST", "/login", urlValues("username", "alice", "password", "password123", "next", "//evil.example"), token)
		if resp.StatusCode != 204 || resp.Header.Get("HX-Redirect") != "/dashboard" {
			t.Fatalf("success: %d HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
	})

	t.Run("a form with an empty field shows it, tied to the field", func(t *testing.T) {
		c := a.client()
		token := c.token(t, "/login")
		resp, body := c.form(t, "/login", urlValues("username", "alice", "password", "", csrfFormField, token))
		if resp.StatusCode != 422 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, body, "<html", `aria-invalid="true" aria-describedby="login-password-error"`, `id="login-password-error"`, "Password is required")
	})

	t.Run("browser logout goes to the login page with a message", func(t *testing.T) {
		c := a.client()
		c.login(t, "alice", "password123")
		token := c.token(t, "/dashboard")
		resp, _ := c.htmx(t, "POST", "/logout", urlValues(csrfFormField, token), token)
		if resp.StatusCode != 204 || resp.Header.Get("HX-Redirect") != "/login" {
			t.Fatalf("%d HX-Redirect %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
		_, body := c.page(t, "/login")
		mustContain(t, body, "You have logged out.")
		_, body = c.page(t, "/login")
		mustNotContain(t, body, "You have logged out.")
		if resp, _ := c.page(t, "/dashboard"); resp.StatusCode != 303 {
			t.Errorf("dashboard after logout: %d", resp.StatusCode)
		}
	})
}

func TestLocalPath(t *testing.T) {
	tests := []struct {
		next, want string
	}{
		{"/dashboard", "/dashboard"},
		{"/keys?x=1#keys", "/keys?x=1#keys"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // an encoded slash stays a path here
		{"", "/fallback"},
		{"dashboard", "/fallback"},
		{"//evil.example", "/fallback"},
		{"///evil.example", "/fallback"},
		{"/\\evil.example", "/fallback"},
		{"/\t/evil.example", "/fallback"},
		{"/\n/evil.example", "/fallback"},
		{"https://evil.example/", "/fallback"},
		{"javascript:alert(1)", "/fallback"},
		{"/ok\\..\\x", "/fallback"},
	}
	for _, tt := range tests {
		if got := localPath(tt.next, "/fallback"); got != tt.want {
			t.Errorf("localPath(%q) = %q, want %q", tt.next, got, tt.want)
		}
	}
}

func TestLoginPageKeepsOnlyLocalNext(t *testing.T) {
	a := newTestApp(t, nil)
	for _, next := range []string{"//evil.example", "https://evil.example", "/\\evil.example"} {
		_, body := a.client().page(t, "/login?next="+url.QueryEscape(next))
		mustNotContain(t, body, `name="next"`, "evil.example")
	}
	_, body := a.client().page(t, "/login?next=%2Fkeys")
	mustContain(t, body, `name="next" value="/keys"`)
}

func TestErrorPages(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "1"})
	alice := a.client()
	alice.login(t, "alice", "password123")
	tests := []struct {
		name       string
		c          *client
		req        *http.Request
		wantStatus int
		want       []string
		notWant    []string
	}{
		{"404 page in the layout", a.client(), request("GET", "/no/such/page", "", "Accept", "text/html"), 404,
			[]string{"<html", "Page not found", "404"}, nil},
		{"404 fragment for htmx, no layout", a.client(), request("GET", "/no/such/page", "", "HX-Request", "true"), 404,
			[]string{`role="alert"`, "Page not found"}, []string{"<html"}},
		{"404 envelope for JSON", a.client(), request("GET", "/no/such/page", ""), 404,
			[]string{`"type":"not_found_error"`}, []string{"<html"}},
		{"404 page knows who is logged in, though no route ran the session middleware", alice,
			request("GET", "/no/such/page", "", "Accept", "text/html"), 404,
			// No logout form without a token to send (it would only be refused).
			[]string{"Page not found", "Logged in as <strong>alice</strong>", `href="/account"`},
			[]string{"Not logged in", `name="_csrf" value=""`}},
		{"405 page knows who is logged in too", alice, request("PUT", "/dashboard", "", "Accept", "text/html"), 405,
			[]string{"Method not allowed", "Logged in as <strong>alice</strong>"}, nil},
		{"404 page for a visitor says not logged in", a.client(), request("GET", "/no/such/page", "", "Accept", "text/html"), 404,
			[]string{"Not logged in", `href="/login"`}, []string{"Logged in as"}},
		{"403 page for a user on the admin page", alice, request("GET", "/admin/users", "", "Accept", "text/html"), 403,
			[]string{"<html", "Not allowed", "Admins only", "Logged in as <strong>alice</strong>"}, nil},
		{"403 envelope for a JSON user on the admin page", alice, request("GET", "/admin/users", ""), 403,
			[]string{`{"error":{"message":"Admins only","type":"authorization_error","status_code":403}}`}, nil},
		{"429 page after the rate limit", alice, request("GET", "/whoami", "", "Accept", "text/html"), 429,
			[]string{"<html", "Too many requests"}, nil},
		{"an API client gets the envelope whatever it accepts", a.client(), request("GET", "/basic/profile", "", "Accept", "text/html", "Authorization", basicAuth("john", "secret123")), 429,
			[]string{`"type":"rate_limit_error"`}, []string{"<html"}},
	}
	// Use up the one request the limit allows.
	a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.c.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			mustContain(t, body, tt.want...)
			mustNotContain(t, body, tt.notWant...)
		})
	}

	t.Run("a 404 page that names the user is not cached, and one for a visitor starts no session", func(t *testing.T) {
		resp, _ := alice.page(t, "/no/such/page")
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q for a page naming alice, want no-store", cc)
		}
		visitor := a.client()
		visitor.setCookie(sessions.CookieName, "AAAAAAAAAAAAAAAAAAAAAAAAAA") // well-formed, but no session
		resp, body := visitor.page(t, "/no/such/page")
		mustContain(t, body, "Not logged in")
		if c := cookie(resp, sessions.CookieName); c != nil && c.Value != "" {
			t.Errorf("a 404 page set a session cookie %q", c.Value)
		}
	})

	t.Run("500 page shows a generic message and the request ID", func(t *testing.T) {
		b := newTestApp(t, nil)
		c := b.client()
		c.login(t, "alice", "password123")
		b.store.Close() // the dashboard cannot load its keys now
		resp, body := c.page(t, "/dashboard")
		if resp.StatusCode < 500 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		mustContain(t, body, "<html", "Something went wrong", "Request ID", resp.Header.Get("X-Request-Id"))
		mustNotContain(t, body, "sql", "database is closed")
	})
}

// What the CSP forbids: inline styles and event handlers, and scripts other than
// an empty <script src=...></script>.
var (
	inlineCode = regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=`)
	scriptTag  = regexp.MustCompile(`(?i)<script[^>]*>[^<]*</script>`)
	goodScript = regexp.MustCompile(`^<script src="/static/[0-9a-f]{16}/[^"]+" defer></script>$`)
)

func TestPagesHaveNoInlineCode(t *testing.T) {
	a := newTestApp(t, nil)
	admin := a.client()
	admin.login(t, "admin", "supersecret")
	token := admin.token(t, "/dashboard")
	_, created := admin.htmx(t, "POST", "/keys", urlValues("name", "ci", "permissions", "read"), token)
	pages := map[string]string{"key created fragment": created}
	play := admin.token(t, "/playground")
	_, pages["playground exchange fragment"] = admin.htmx(t, "POST", "/playground/send",
		urlValues("op", "dashboard", "auth", "session", "username", "alice", "password", "password123"), play)
	_, pages["playground form error fragment"] = admin.htmx(t, "POST", "/playground/send", urlValues("op", "nope"), play)
	for _, path := range []string{"/", "/login", "/register", "/dashboard", "/account", "/admin/users", "/nope", "/playground", "/docs"} {
		_, pages[path] = admin.page(t, path)
	}
	_, pages["/login anonymous"] = a.client().page(t, "/login")
	for name, body := range pages {
		if m := inlineCode.FindString(body); m != "" {
			t.Errorf("%s has inline code %q", name, m)
		}
		scripts := scriptTag.FindAllString(body, -1)
		if strings.Count(strings.ToLower(body), "<script") != len(scripts) {
			t.Errorf("%s has a script tag we cannot read", name)
		}
		for _, s := range scripts {
			if !goodScript.MatchString(s) {
				t.Errorf("%s has an inline script %q", name, s)
			}
		}
	}
}

func TestStaticFiles(t *testing.T) {
	a := newTestApp(t, nil)
	_, home := a.client().page(t, "/")
	for _, asset := range []string{assetCSS, assetJS, assetHTMX} {
		m := regexp.MustCompile(`"(/static/[0-9a-f]{16}/` + regexp.QuoteMeta(asset) + `)"`).FindStringSubmatch(home)
		if m == nil {
			t.Fatalf("home page does not link %s", asset)
		}
		resp, body := a.do(t, request("GET", m[1], ""))
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("%s: %d", m[1], resp.StatusCode)
		}
		if got := resp.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("%s Cache-Control %q", asset, got)
		}
		etag := resp.Header.Get("ETag")
		if etag == "" {
			t.Fatalf("%s has no ETag", asset)
		}
		if resp, _ := a.do(t, request("GET", m[1], "", "If-None-Match", etag)); resp.StatusCode != 304 {
			t.Errorf("%s with If-None-Match: %d", asset, resp.StatusCode)
		}
		stale := "/static/0000000000000000/" + asset
		if resp, _ := a.do(t, request("GET", stale, "")); resp.StatusCode != 404 {
			t.Errorf("%s under a stale hash: %d", asset, resp.StatusCode)
		}
	}
	if resp, _ := a.do(t, request("GET", "/static/0123456789abcdef/../../go.mod", "")); resp.StatusCode != 404 {
		t.Errorf("path traversal: %d", resp.StatusCode)
	}
}

// TestVendoredFilesMatchSums checks the vendored htmx against SHA256SUMS.
func TestVendoredFilesMatchSums(t *testing.T) {
	f, err := public.FS.Open("vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
		want, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("bad line %q", sc.Text())
		}
		body, err := fs.ReadFile(public.FS, "vendor/"+name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(body)
		if hex.EncodeToString(sum[:]) != want {
			t.Errorf("%s does not match SHA256SUMS", name)
		}
	}
	if n == 0 {
		t.Fatal("SHA256SUMS is empty")
	}
}

func TestNewViewsRefusesBrokenTemplates(t *testing.T) {
	broken := fstest.MapFS{"pages/home.html": {Data: []byte("{{if .X}}never closed")}}
	if _, err := NewViews(broken, false); err == nil {
		t.Error("a template error was accepted")
	}
	missing := fstest.MapFS{"pages/home.html": {Data: []byte("fine")}}
	if _, err := NewViews(missing, false); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing templates: %v", err)
	}
	// The views folder on disk (development) parses like the embedded copy.
	if _, err := NewViews(os.DirFS(filepath.Join("..", "..", "views")), true); err != nil {
		t.Errorf("views folder: %v", err)
	}
}
