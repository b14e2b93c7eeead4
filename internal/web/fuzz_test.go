package web

// Fuzz targets for the code that reads a request first: credentials, bodies, redirects.
// Each builds the app once (the code before f.Fuzz runs once per fuzzing worker) and
// checks properties of every answer; seeds are below and in testdata/fuzz/<FuzzName>/.
// .ci/run runs each for 4,000 inputs; see docs/development.md ("Fuzzing") to run one longer.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// newFuzzApp is the real app with limits no run of iterations from one address
// reaches: a 429 would hide every other answer.
func newFuzzApp(f *testing.F) *testApp {
	f.Helper()
	return newTestApp(f, map[string]string{"RATE_LIMIT_MAX": "1000000000", "LOGIN_MAX_FAILURES": "1000000000"})
}

// demoKeyOwner is whose demo API key with read access key is ("" for none).
func demoKeyOwner(key string) string {
	switch key {
	case "sk_test_123":
		return "john"
	case "sk_live_456":
		return "alice"
	}
	return ""
}

// sentHeader is what a header value becomes on the wire: net/http turns CR and LF
// into spaces and trims the ends, and fasthttp trims again when it parses.
func sentHeader(v string) string {
	return strings.Trim(strings.NewReplacer("\r", " ", "\n", " ").Replace(v), " \t")
}

// fuzzDo is testApp.do for fuzzing. A request whose headers overflow the read buffer
// never reaches the app: fasthttp answers 431 through the ErrorHandler, but app.Test
// returns its error instead of that answer, so such an input is skipped.
func (a *testApp) fuzzDo(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := a.app.Test(req, -1)
	if errors.As(err, new(*fasthttp.ErrSmallBuffer)) {
		t.Skip("headers over the read buffer")
	}
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// checkAnswer fails unless status is one of want and a 4xx body is the envelope for
// that status. Every 5xx fails: no input may produce one.
func checkAnswer(t *testing.T, status int, body string, want ...int) {
	t.Helper()
	if !slices.Contains(want, status) {
		t.Fatalf("status %d, want one of %v; body %s", status, want, body)
	}
	if status >= 400 {
		if e := envelope(t, body); e.StatusCode != status || e.Type != errorTypes[status] {
			t.Fatalf("envelope %+v for status %d", e, status)
		}
	}
}

// decodeStrict decodes a success body into dst, refusing fields dst does not have.
func decodeStrict(t *testing.T, body string, dst any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("not the success body: %s (%v)", body, err)
	}
}

func FuzzAuthorizationHeader(f *testing.F) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, seed := range []string{
		basicAuth("john", "secret123"),
		"basic " + b64("john:secret123"),
		"BASIC  " + b64("admin:supersecret"),
		"Basic " + b64("john:wrong"),
		"Basic " + b64("john:"),
		"Basic " + b64(":"),
		"Basic !!!not-base64",
		"Basic",
		"Bearer sk_test_123",
		"bearer sk_live_456",
		"Bearer  sk_test_123",
		"Bearer",
		"Bearer sk_test_123 extra",
		"Digest username=john",
		"",
	} {
		f.Add(seed)
	}
	a := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, header string) {
		scheme, creds := authScheme(header)
		if scheme != strings.ToLower(scheme) || strings.Contains(scheme, " ") || creds != strings.TrimSpace(creds) {
			t.Fatalf("authScheme(%q) = %q, %q", header, scheme, creds)
		}
		fc := a.app.AcquireCtx(&fasthttp.RequestCtx{})
		fc.Request().Header.Set("Authorization", header)
		user, pass, ok := basicCredentials(fc)
		a.app.ReleaseCtx(fc)
		if ok {
			raw, err := base64.StdEncoding.DecodeString(creds)
			if scheme != "basic" || err != nil || string(raw) != user+":"+pass {
				t.Fatalf("basicCredentials(%q) = %q, %q from %q", header, user, pass, raw)
			}
		}

		resp, body := a.fuzzDo(t, request("GET", "/whoami", "", "Authorization", header))
		checkAnswer(t, resp.StatusCode, body, 200, 400, 401)
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without a challenge")
		}
		if resp.StatusCode != 200 {
			return
		}
		// Who the answer names is who the header names, never anyone else.
		var who whoamiResponse
		decodeStrict(t, body, &who)
		scheme, creds = authScheme(sentHeader(header))
		switch who.Method {
		case "basic":
			raw, _ := base64.StdEncoding.DecodeString(creds)
			if claimed, _, _ := strings.Cut(string(raw), ":"); scheme != "basic" || !strings.EqualFold(claimed, who.Username) {
				t.Fatalf("header %q authenticated as %+v", header, who)
			}
		case "api_key":
			if scheme != "bearer" || demoKeyOwner(creds) != who.Username {
				t.Fatalf("header %q authenticated as %+v", header, who)
			}
		default:
			t.Fatalf("header %q authenticated as %+v", header, who)
		}
	})
}

func FuzzAPIKeyHeader(f *testing.F) {
	for _, seed := range []string{"sk_test_123", "sk_live_456", " sk_test_123 ", "SK_TEST_123", "sk_test_12", "sk_test_1234",
		"sk_test_123\x00", "sk_", "Bearer sk_test_123", "sk_test_123, sk_live_456", ""} {
		f.Add(seed)
	}
	a := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, key string) {
		resp, body := a.fuzzDo(t, request("GET", "/apikey/data", "", "X-API-Key", key))
		checkAnswer(t, resp.StatusCode, body, 200, 401)
		switch resp.StatusCode {
		case 401:
			if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), `Bearer realm="fiberauth"`) {
				t.Fatalf("401 with challenge %q", resp.Header.Get("WWW-Authenticate"))
			}
		case 200:
			if demoKeyOwner(sentHeader(key)) == "" {
				t.Fatalf("key %q was accepted", key)
			}
			var data struct{ Data []string }
			if decodeStrict(t, body, &data); !slices.Equal(data.Data, []string{"item1", "item2"}) {
				t.Fatalf("body %s", body)
			}
		}
	})
}

func FuzzJSONBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"alice","password":"password123"}`,
		`{"username":"alice","password":"pass\ud83d\ude00"}`,
		`{"username":"alice","password":"\ud800"}`,
		`{"a":"\udc00x","b":["\\ud800"]}`,
		"{\"a\":\"\xff\"}",
		"{\"a\":\"\uFFFD\",\"b\":\"\\ufffd\"}",
		`{"a":{"b":[1,2.5e3,true,null,"c"]}}`,
		`{"username":42}`,
		`[1,2]`,
		`"x"`,
		`{"a":`,
		``,
	} {
		f.Add([]byte(seed))
	}
	a := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkScannerAgainstDecoder(t, body)

		resp, out := a.fuzzDo(t, jsonRequest("POST", "/login", string(body)))
		checkAnswer(t, resp.StatusCode, out, 200, 400, 401, 413, 422)
		if resp.StatusCode == 200 && out != `{"message":"Login successful"}` {
			t.Fatalf("login body %s", out)
		}

		resp, out = a.fuzzDo(t, jsonRequest("POST", "/apikey/create", string(body), "Authorization", "Bearer sk_test_123"))
		checkAnswer(t, resp.StatusCode, out, 200, 400, 413, 422)
		if resp.StatusCode != 200 {
			return
		}
		// What was created is what was sent, to the byte in every string.
		if err := checkJSONText(bytes.TrimSpace(body)); err != nil {
			t.Fatalf("created an item from refused text: %v", err)
		}
		var created struct {
			Message string
			Item    json.RawMessage
		}
		decodeStrict(t, out, &created)
		if created.Message != "Item created" || !reflect.DeepEqual(decodeAny(t, created.Item), decodeAny(t, body)) {
			t.Fatalf("sent %q, created %s", body, out)
		}
	})
}

// checkScannerAgainstDecoder holds unfaithfulString to what it promises about valid
// JSON: it finds a string exactly when encoding/json decodes one with more U+FFFD
// than the text wrote (as the literal character or \ufffd), and a string without
// escapes in faithful text decodes to its own bytes.
func checkScannerAgainstDecoder(t *testing.T, text []byte) {
	t.Helper()
	_, found := unfaithfulString(text)
	if !json.Valid(text) {
		return
	}
	literals := stringLiterals(text)
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	replaced, i := false, 0
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		s, ok := tok.(string)
		if !ok {
			continue
		}
		if i >= len(literals) {
			t.Fatalf("more strings than literals in %q", text)
		}
		lit := literals[i]
		i++
		if strings.Count(s, "\uFFFD") > writtenReplacements(lit) {
			replaced = true
		} else if !found && !bytes.ContainsRune(lit, '\\') && s != string(lit) {
			t.Fatalf("literal %q decoded to %q", lit, s)
		}
	}
	if found != replaced {
		t.Fatalf("unfaithfulString(%q) found=%v, but encoding/json replaced=%v", text, found, replaced)
	}
}

// stringLiterals returns the contents of every string in valid JSON text, in order.
// Outside strings valid JSON has no quotes or backslashes, so a quote opens a string
// and the next quote not escaped by a backslash closes it.
func stringLiterals(text []byte) [][]byte {
	var out [][]byte
	for i := 0; i < len(text); i++ {
		if text[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(text) && text[j] != '"' {
			if text[j] == '\\' {
				j++
			}
			j++
		}
		out = append(out, text[i+1:min(j, len(text))])
		i = j
	}
	return out
}

// writtenReplacements counts the U+FFFD a string's contents write on purpose.
func writtenReplacements(lit []byte) int {
	n := bytes.Count(lit, []byte("\uFFFD"))
	for i := 0; i+1 < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		if lit[i+1] == 'u' && i+6 <= len(lit) && strings.EqualFold(string(lit[i+2:i+6]), "fffd") {
			n++
		}
		i++ // skip the escaped character, so `\\ufffd` is a backslash and text
	}
	return n
}

func decodeAny(t *testing.T, text []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", text, err)
	}
	return v
}

func FuzzNextRedirect(f *testing.F) {
	for _, seed := range []string{"/dashboard", "/keys?x=1#k", "/", "//evil.com", "/\\evil.com", "/\t/evil.com",
		"https://x", "%2F%2Fevil.com", "/%2F%2Fevil.com", "javascript:alert(1)", "/a\x00b", "/é", "/\xff", ""} {
		f.Add(seed)
	}
	const fallback = "/fallback"
	site, _ := url.Parse("https://site.example/a/b")
	f.Fuzz(func(t *testing.T, next string) {
		got := localPath(next, fallback)
		if got != fallback {
			if got != next {
				t.Fatalf("localPath(%q) = %q: neither the input nor the fallback", next, got)
			}
			checkLocal(t, site, got)
		}
		// The login page's link carries only a local path, and a browser reads it back.
		login, err := url.Parse(loginURL(next))
		if err != nil || login.Scheme != "" || login.Host != "" || login.Path != "/login" {
			t.Fatalf("loginURL(%q) = %q", next, loginURL(next))
		}
		if back := login.Query().Get("next"); back != "" {
			if back != localPath(next, "") || back == "/" {
				t.Fatalf("loginURL(%q) leads back to %q", next, back)
			}
			checkLocal(t, site, back)
		}
	})
}

// checkLocal fails unless a browser on site would stay on site following path.
func checkLocal(t *testing.T, site *url.URL, path string) {
	t.Helper()
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		t.Fatalf("%q is not a local path", path)
	}
	for _, r := range path {
		// Browsers drop tabs and newlines and read a backslash as a slash.
		if r < 0x20 || r == 0x7f || r == '\\' {
			t.Fatalf("%q holds %q", path, r)
		}
	}
	u, err := url.Parse(path)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		t.Fatalf("%q parses as %#v (%v)", path, u, err)
	}
	if to := site.ResolveReference(u); to.Scheme != site.Scheme || to.Host != site.Host || to.User != nil {
		t.Fatalf("%q leads to %s", path, to)
	}
}

func FuzzSessionCookie(f *testing.F) {
	a := newFuzzApp(f)
	live := a.mustLogin(f, "alice", "password123").Value
	for _, seed := range []string{live, strings.ToLower(live), live + " ", live + "; session_id=x", "x; session_id=" + live,
		`"` + live + `"`, live[:len(live)-1], live + "A", "4c1f2a58-0000-4000-8000-000000000000", "AAAAAAAAAAAAAAAAAAAAAAAAAA", "user-sessions:2", "rate:0.0.0.0",
		"login-failures:alice|0.0.0.0", "../" + live, "", "\x00", "%34c1f2a58"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		resp, body := a.fuzzDo(t, request("GET", "/dashboard", "", "Cookie", "session_id="+value))
		checkAnswer(t, resp.StatusCode, body, 200, 401)
		// Only the live session's own ID logs in; any other shape is no session at all.
		if resp.StatusCode == 200 && (!strings.Contains(value, live) || body != `{"message":"Welcome to your dashboard, alice!"}`) {
			t.Fatalf("cookie %q: %d %s", value, resp.StatusCode, body)
		}
	})
}
