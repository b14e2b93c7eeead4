package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/sessions"
)

// client is a browser stand-in for app.Test: it keeps cookies like a browser and
// does not follow redirects.
type client struct {
	a   *testApp
	jar map[string]*http.Cookie
}

func (a *testApp) client() *client {
	return &client{a: a, jar: map[string]*http.Cookie{}}
}

// do sends req with the jar's cookies and stores the cookies the response sets.
func (c *client) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	for _, ck := range c.jar {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	resp, body := c.a.do(t, req)
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) || ck.Value == "" {
			delete(c.jar, ck.Name)
			continue
		}
		c.jar[ck.Name] = ck
	}
	return resp, body
}

// setCookie puts a cookie in the jar, as a script or another site might.
func (c *client) setCookie(name, value string) {
	c.jar[name] = &http.Cookie{Name: name, Value: value}
}

// page GETs path as a browser navigation would.
func (c *client) page(t testing.TB, path string) (*http.Response, string) {
	t.Helper()
	return c.do(t, request("GET", path, "", "Accept", "text/html,application/xhtml+xml,*/*;q=0.8"))
}

// form posts values as a plain HTML form would.
func (c *client) form(t testing.TB, path string, values url.Values, headers ...string) (*http.Response, string) {
	t.Helper()
	return c.do(t, request("POST", path, values.Encode(),
		append([]string{"Content-Type", "application/x-www-form-urlencoded", "Accept", "text/html"}, headers...)...))
}

// htmx posts values as htmx would, with the token in X-Csrf-Token.
func (c *client) htmx(t testing.TB, method, path string, values url.Values, token string) (*http.Response, string) {
	t.Helper()
	return c.do(t, request(method, path, values.Encode(), "Content-Type", "application/x-www-form-urlencoded",
		"HX-Request", "true", "HX-Current-URL", "http://example.com/dashboard", "X-Csrf-Token", token))
}

// token fetches a page and returns the CSRF token in its forms.
func (c *client) token(t testing.TB, path string) string {
	t.Helper()
	resp, body := c.page(t, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return extractCSRFToken(t, body)
}

// login logs in through the login form, as a browser without JavaScript does.
func (c *client) login(t testing.TB, username, password string) {
	t.Helper()
	token := c.token(t, "/login")
	resp, body := c.form(t, "/login", url.Values{"username": {username}, "password": {password}, csrfFormField: {token}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login as %s: %d %s", username, resp.StatusCode, body)
	}
	if c.jar[sessions.CookieName] == nil {
		t.Fatalf("login as %s set no session cookie", username)
	}
}

var csrfFieldPattern = regexp.MustCompile(`name="` + csrfFormField + `" value="([^"]+)"`)

// extractCSRFToken returns the token of the first form in body.
func extractCSRFToken(t testing.TB, body string) string {
	t.Helper()
	m := csrfFieldPattern.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", body)
	}
	return m[1]
}

// urlValues builds form values from name, value pairs.
func urlValues(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// mustContain fails unless body contains every one of wants.
func mustContain(t testing.TB, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("body lacks %q:\n%s", w, body)
		}
	}
}

// mustNotContain fails if body contains any of bad.
func mustNotContain(t testing.TB, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("body contains %q:\n%s", b, body)
		}
	}
}
