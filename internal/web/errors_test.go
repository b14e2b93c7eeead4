package web

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
)

// Every status maps to its envelope type, in one place.
func TestDescribe(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		wantStatus  int
		wantType    string
		wantMessage string
	}{
		{"bad request", apperr.New(apperr.KindBadRequest, "Bad header"), 400, "bad_request_error", "Bad header"},
		{"unauthenticated", apperr.New(apperr.KindUnauthenticated, "Invalid credentials"), 401, "authentication_error", "Invalid credentials"},
		{"forbidden", apperr.New(apperr.KindForbidden, "Admins only"), 403, "authorization_error", "Admins only"},
		{"not found", apperr.New(apperr.KindNotFound, "API key not found"), 404, "not_found_error", "API key not found"},
		{"fiber 404", fiber.ErrNotFound, 404, "not_found_error", "Not found"},
		{"fiber 405", fiber.ErrMethodNotAllowed, 405, "method_not_allowed_error", "Method not allowed"},
		{"conflict", apperr.New(apperr.KindConflict, "username is already taken"), 409, "conflict_error", "username is already taken"},
		{"fiber 413", fiber.ErrRequestEntityTooLarge, 413, "payload_too_large_error", "Request body too large"},
		{"fiber 415", fiber.ErrUnsupportedMediaType, 415, "unsupported_media_type_error", "Unsupported Media Type"},
		{"unsupported media keeps its message", apperr.New(apperr.KindUnsupportedMedia, "Content-Type must be application/json"), 415, "unsupported_media_type_error", "Content-Type must be application/json"},
		{"validation", apperr.Validation("Validation error", apperr.FieldError{Field: "password", Message: "too long"}), 422, "validation_error", "Validation error"},
		{"rate limited", apperr.New(apperr.KindRateLimited, "Rate limit exceeded"), 429, "rate_limit_error", "Rate limit exceeded"},
		{"unavailable", apperr.New(apperr.KindUnavailable, "Not ready"), 503, "service_unavailable_error", "Not ready"},
		{"internal hides its cause", apperr.Wrap(apperr.KindInternal, "database error", errors.New("disk I/O error at /var/db")), 500, "internal_error", "Internal server error"},
		{"a plain error is internal", errors.New("pq: secret detail"), 500, "internal_error", "Internal server error"},
		{"fasthttp text is not shown", fiber.NewError(400, "error when reading request headers: small read buffer"), 400, "bad_request_error", "Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := describe(tt.err)
			if d.StatusCode != tt.wantStatus || d.Type != tt.wantType || d.Message != tt.wantMessage {
				t.Errorf("describe = %d %s %q, want %d %s %q", d.StatusCode, d.Type, d.Message, tt.wantStatus, tt.wantType, tt.wantMessage)
			}
		})
	}
}

// Malformed input of every kind is a 4xx with the envelope, never a 500.
func TestBadInput(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "1000"})
	b64 := base64.StdEncoding.EncodeToString
	long := strings.Repeat("a", 1000)
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantHeader string // a WWW-Authenticate prefix, when one is expected
	}{
		{"basic with bad base64", request("GET", "/basic/profile", "", "Authorization", "Basic !!!not-base64"), 401, "Basic "},
		{"basic with no colon", request("GET", "/basic/profile", "", "Authorization", "Basic "+b64([]byte("johnsecret123"))), 401, "Basic "},
		{"basic that is empty", request("GET", "/basic/profile", "", "Authorization", "Basic "), 401, "Basic "},
		{"empty authorization", request("GET", "/basic/profile", "", "Authorization", ""), 401, "Basic "},
		{"basic with non-UTF-8", request("GET", "/basic/profile", "", "Authorization", "Basic "+b64([]byte("jo\xffhn:se\xfecret"))), 401, "Basic "},
		{"basic 10 KB long", request("GET", "/basic/profile", "", "Authorization", "Basic "+b64([]byte("john:"+strings.Repeat("x", 7500)))), 401, "Basic "},
		{"basic with an unknown scheme", request("GET", "/basic/profile", "", "Authorization", "Digest username=john"), 401, "Basic "},
		{"basic with a NUL in the username", request("GET", "/basic/profile", "", "Authorization", "Basic "+b64([]byte("jo\x00hn:secret123"))), 401, "Basic "},
		{"basic with a 1000-character username", request("GET", "/basic/profile", "", "Authorization", basicAuth(long, "secret123")), 401, "Basic "},
		{"basic with SQL in the username", request("GET", "/basic/profile", "", "Authorization", basicAuth(`john' OR '1'='1`, "x' OR 1=1 --")), 401, "Basic "},
		{"bearer with nothing", request("GET", "/apikey/data", "", "Authorization", "Bearer"), 401, "Bearer "},
		{"bearer with a space only", request("GET", "/apikey/data", "", "Authorization", "Bearer "), 401, "Bearer "},
		{"api key route with an unknown scheme", request("GET", "/apikey/data", "", "Authorization", "Token sk_test_123"), 401, "Bearer "},
		{"api key 10 KB long", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_"+strings.Repeat("k", 10000)), 401, `Bearer realm="fiberauth", error="invalid_token"`},
		{"api key with non-UTF-8", request("GET", "/apikey/data", "", "X-API-Key", "sk_\xff\xfe"), 401, `Bearer realm="fiberauth", error="invalid_token"`},
		{"two Authorization headers", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123"), "Authorization", basicAuth("admin", "supersecret")), 400, ""},
		{"two X-API-Key headers", request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456", "X-API-Key", "sk_test_123"), 400, ""},
		{"Bearer and X-API-Key that disagree", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_live_456", "X-API-Key", "sk_test_123"), 400, ""},
		{"login with invalid JSON", jsonRequest("POST", "/login", `{"username":"alice",`), 400, ""},
		{"login with a JSON array", jsonRequest("POST", "/login", `[{"username":"alice","password":"password123"}]`), 422, ""},
		{"login with a JSON string", jsonRequest("POST", "/login", `"alice"`), 422, ""},
		{"login with a number for a username", jsonRequest("POST", "/login", `{"username":42,"password":"password123"}`), 422, ""},
		{"login with an empty body", jsonRequest("POST", "/login", ``), 400, ""},
		{"login with no content type", request("POST", "/login", `{"username":"alice","password":"password123"}`), 415, ""},
		{"login with XML", request("POST", "/login", `<login/>`, "Content-Type", "application/xml"), 415, ""},
		{"login with an empty username", jsonRequest("POST", "/login", `{"username":"","password":"password123"}`), 422, ""},
		{"login with a 1000-character username", jsonRequest("POST", "/login", `{"username":"`+long+`","password":"password123"}`), 401, ""},
		{"login with quotes and SQL", jsonRequest("POST", "/login", `{"username":"alice'; DROP TABLE users; --","password":"\" OR \"\"=\""}`), 401, ""},
		{"login with a NUL in the username", jsonRequest("POST", "/login", `{"username":"al\u0000ice","password":"password123"}`), 401, ""},
		{"create item with a JSON array", jsonRequest("POST", "/apikey/create", `[1,2]`, "Authorization", "Bearer sk_test_123"), 422, ""},
		{"create item with invalid JSON", jsonRequest("POST", "/apikey/create", `{"a":`, "Authorization", "Bearer sk_test_123"), 400, ""},
		{"create item as a form", request("POST", "/apikey/create", `a=1`, "Authorization", "Bearer sk_test_123", "Content-Type", "application/x-www-form-urlencoded"), 415, ""},
		{"unknown route", request("GET", "/no/such/route", ""), 404, ""},
		{"wrong method", request("DELETE", "/basic/profile", ""), 405, ""},
		{"request ID with a newline is replaced", request("GET", "/no/such/route", "", "X-Request-ID", "abc\ninjected=1"), 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			e := envelope(t, body)
			if e.StatusCode != tt.wantStatus || e.Type != errorTypes[tt.wantStatus] {
				t.Errorf("envelope = %+v", e)
			}
			if tt.wantHeader != "" && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), tt.wantHeader) {
				t.Errorf("WWW-Authenticate = %q, want prefix %q", resp.Header.Get("WWW-Authenticate"), tt.wantHeader)
			}
			if id := resp.Header.Get("X-Request-ID"); !validRequestID.MatchString(id) {
				t.Errorf("X-Request-ID = %q", id)
			}
		})
	}
}

// The exact challenges design.md specifies.
func TestChallenges(t *testing.T) {
	a := newTestApp(t, nil)
	tests := []struct {
		name string
		req  *http.Request
		want string
	}{
		{"basic route", request("GET", "/basic/profile", ""), `Basic realm="fiberauth", charset="UTF-8"`},
		{"api key route without a key", request("GET", "/apikey/data", ""), `Bearer realm="fiberauth"`},
		{"api key route with a bad key", request("GET", "/apikey/data", "", "X-API-Key", "sk_bad"), `Bearer realm="fiberauth", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := a.do(t, tt.req)
			if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || got != tt.want {
				t.Errorf("got %d %q, want 401 %q", resp.StatusCode, got, tt.want)
			}
		})
	}
}

// Authorization schemes are case-insensitive (RFC 7235).
func TestSchemesAreCaseInsensitive(t *testing.T) {
	a := newTestApp(t, nil)
	creds := strings.TrimPrefix(basicAuth("john", "secret123"), "Basic ")
	for _, h := range []struct{ path, value string }{
		{"/basic/profile", "basic " + creds},
		{"/basic/profile", "BASIC " + creds},
		{"/apikey/data", "bearer sk_test_123"},
		{"/apikey/data", "BEARER sk_test_123"},
	} {
		t.Run(h.value[:6], func(t *testing.T) {
			resp, body := a.do(t, request("GET", h.path, "", "Authorization", h.value))
			if resp.StatusCode != 200 {
				t.Errorf("%s with %q: %d %s", h.path, h.value, resp.StatusCode, body)
			}
		})
	}
}

// A panic becomes a 500 with a request ID and nothing of the panic's text.
func TestPanicIsA500WithoutInternals(t *testing.T) {
	a := newTestApp(t, nil)
	a.app.Get("/test-panic", func(c *fiber.Ctx) error { panic("secret internal state") })
	resp, body := a.do(t, request("GET", "/test-panic", ""))
	e := envelope(t, body)
	if resp.StatusCode != 500 || e.Type != "internal_error" || e.RequestID == "" || e.RequestID != resp.Header.Get("X-Request-ID") {
		t.Errorf("got %d %s", resp.StatusCode, body)
	}
	if strings.Contains(body, "secret") || strings.Contains(body, "goroutine") {
		t.Errorf("body leaks the panic: %s", body)
	}
}

// A body over the limit is refused with 413 and the envelope. fasthttp refuses it from
// its Content-Length, before reading it or calling any handler, so this needs a real
// connection rather than app.Test.
func TestBodyTooLarge(t *testing.T) {
	a := newTestApp(t, nil)
	addr := strings.TrimPrefix(a.serve(t), "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"username\":\"", addr, 2<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if e := envelope(t, string(b)); resp.StatusCode != 413 || e.Type != "payload_too_large_error" {
		t.Errorf("got %d %s", resp.StatusCode, b)
	}
}
