package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"fiberauth/internal/store"
)

// browserOnlyRoutes serve HTML or assets only; everything else the app serves is a
// JSON route and must be in the OpenAPI document.
var browserOnlyRoutes = map[string]bool{
	"GET /":                              true,
	"GET /login":                         true,
	"GET /login/verify":                  true, // the code page; POST /login/verify is its JSON twin
	"GET /register":                      true,
	"GET /account":                       true,
	"POST /keys/{id}/revoke":             true, // the no-JavaScript twin of DELETE /keys/{id}
	"POST /account/sessions/{id}/end":    true, // the no-JavaScript twin of DELETE /account/sessions/{id}
	"POST /account/passkeys/{id}/delete": true, // the no-JavaScript twin of DELETE /account/passkeys/{id}
	"GET /docs":                          true, // this document, as pages
	"GET /playground":                    true,
	"POST /playground/send":              true, // a form; the calls it makes are documented routes
	// The plain-form twins of PUT /admin/users/{id}/role and DELETE .../second-factor.
	"POST /admin/users/{id}/role":                true,
	"POST /admin/users/{id}/second-factor/reset": true,
	// The pages of the reset link (their JSON twins are POST /password/...).
	"GET /password/forgot": true,
	"GET /password/reset":  true,
	// Development only (the route does not exist in production, so the document,
	// which production serves too, leaves it out); its JSON is in the README.
	"GET /dev/mailbox": true,
}

// protocolOps answer errors in RFC 6749's shape (OAuthError), not the envelope.
var protocolOps = map[string]bool{"token": true, "revokeToken": true}

var fiberParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// The document names exactly the JSON routes the app serves, no more, no fewer.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	a := newTestApp(t, nil)
	served := map[string]bool{}
	for _, r := range a.app.GetRoutes(true) {
		if r.Method == http.MethodHead || r.Method == http.MethodOptions || strings.Contains(r.Path, "*") {
			continue
		}
		route := r.Method + " " + fiberParam.ReplaceAllString(r.Path, "{$1}")
		if !browserOnlyRoutes[route] {
			served[route] = true
		}
	}
	documented := map[string]bool{}
	spec := a.apiDoc(t).Spec
	for path, item := range spec.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, r := range sortedKeys(served) {
		if !documented[r] {
			t.Errorf("%s is served but not in openapi.yaml", r)
		}
	}
	for _, r := range sortedKeys(documented) {
		if !served[r] {
			t.Errorf("openapi.yaml documents %s, which the app does not serve", r)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Each documented operation, called as its examples say, answers with a status the
// document lists and a body its schema accepts.
func TestResponsesMatchTheDocument(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "1000"})
	doc := a.apiDoc(t)
	router, err := gorillamux.NewRouter(doc.Spec)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	session := a.mustLogin(t, "alice", "password123")
	sessionHeader := session.Name + "=" + session.Value
	admin := a.mustLogin(t, "admin", "supersecret")
	adminHeader := admin.Name + "=" + admin.Value
	access := a.grant(t, "admin", "supersecret", "").AccessToken                // john is logged out and alice ends her others below
	carolHeader, pendingHeader := enrolledUser(t, a, "carol", "carol-password") // totp_test.go

	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
	}{
		{"healthz", request("GET", "/healthz", ""), 200},
		{"readyz", request("GET", "/readyz", ""), 200},
		{"openapi", request("GET", "/openapi.json", ""), 200},
		{"basic profile", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")), 200},
		{"basic profile, wrong password", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "nope-nope")), 401},
		{"basic profile, two headers", request("GET", "/basic/profile", "", "Authorization", "Basic a", "Authorization", "Basic b"), 400},
		{"basic admin", request("GET", "/basic/admin", "", "Authorization", basicAuth("admin", "supersecret")), 200},
		{"basic admin as a user", request("GET", "/basic/admin", "", "Authorization", basicAuth("john", "secret123")), 403},
		{"api key data", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_test_123"), 200},
		{"api key data, X-API-Key", request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456"), 200},
		{"api key data, bad key", request("GET", "/apikey/data", "", "X-API-Key", "sk_nope"), 401},
		{"api key create", jsonRequest("POST", "/apikey/create", `{"name":"widget"}`, "Authorization", "Bearer sk_test_123"), 200},
		{"api key create, read-only key", jsonRequest("POST", "/apikey/create", `{"name":"widget"}`, "Authorization", "Bearer sk_live_456"), 403},
		{"api key create, array", jsonRequest("POST", "/apikey/create", `[1]`, "Authorization", "Bearer sk_test_123"), 422},
		{"api key create, form", request("POST", "/apikey/create", `a=1`, "Authorization", "Bearer sk_test_123", "Content-Type", "text/plain"), 415},
		{"api key create, bad JSON", jsonRequest("POST", "/apikey/create", `{`, "Authorization", "Bearer sk_test_123"), 400},
		{"login", jsonRequest("POST", "/login", `{"username":"bob","password":"securepass"}`), 200},
		{"login, wrong password", jsonRequest("POST", "/login", `{"username":"bob","password":"nope-nope"}`), 401},
		{"login, missing field", jsonRequest("POST", "/login", `{"username":"bob"}`), 422},
		{"login, XML", request("POST", "/login", `<x/>`, "Content-Type", "application/xml"), 415},
		{"dashboard", request("GET", "/dashboard", "", "Cookie", sessionHeader), 200},
		{"dashboard, anonymous", request("GET", "/dashboard", ""), 401},
		{"whoami, basic", request("GET", "/whoami", "", "Authorization", basicAuth("admin", "supersecret")), 200},
		{"whoami, key", request("GET", "/whoami", "", "X-API-Key", "sk_live_456"), 200},
		{"whoami, session", request("GET", "/whoami", "", "Cookie", sessionHeader), 200},
		{"whoami, anonymous", request("GET", "/whoami", ""), 401},
		{"register", jsonRequest("POST", "/register", `{"username":"newbie","password":"long-enough-1"}`), 201},
		{"register, taken", jsonRequest("POST", "/register", `{"username":"Alice","password":"long-enough-1"}`), 409},
		{"register, short password", jsonRequest("POST", "/register", `{"username":"newbie2","password":"short"}`), 422},
		{"keys", request("GET", "/keys", "", "Cookie", sessionHeader), 200},
		{"keys, anonymous", request("GET", "/keys", ""), 401},
		{"create key", jsonRequest("POST", "/keys", `{"name":"CI","permissions":["read"],"expires_in":"720h"}`, "Cookie", sessionHeader), 201},
		{"create key, bad permission", jsonRequest("POST", "/keys", `{"name":"CI","permissions":["root"]}`, "Cookie", sessionHeader), 422},
		{"revoke key, not yours", request("DELETE", "/keys/1", "", "Cookie", sessionHeader), 404},
		{"change password, wrong current", jsonRequest("POST", "/account/password", `{"current_password":"nope-nope","new_password":"a-better-password"}`, "Cookie", sessionHeader), 422},
		{"admin users", request("GET", "/admin/users", "", "Cookie", adminHeader), 200},
		{"admin users as a user", request("GET", "/admin/users", "", "Cookie", sessionHeader), 403},
		{"sessions", request("GET", "/account/sessions", "", "Cookie", sessionHeader), 200},
		{"sessions, anonymous", request("GET", "/account/sessions", ""), 401},
		{"end a session, not yours", request("DELETE", "/account/sessions/aaaaaaaaaaaaaaaa", "", "Cookie", sessionHeader), 404},
		{"end other sessions", request("POST", "/account/sessions/revoke-others", "", "Cookie", sessionHeader), 200},
		{"admin audit", request("GET", "/admin/audit?actor=admin&limit=10", "", "Cookie", adminHeader), 200},
		{"admin audit as a user", request("GET", "/admin/audit", "", "Cookie", sessionHeader), 403},
		{"admin audit, bad cursor", request("GET", "/admin/audit?cursor=nope", "", "Cookie", adminHeader), 422},
		{"admin user", request("GET", "/admin/users/3", "", "Cookie", adminHeader), 200},
		{"admin user as a user", request("GET", "/admin/users/3", "", "Cookie", sessionHeader), 403},
		{"admin user, unknown", request("GET", "/admin/users/999", "", "Cookie", adminHeader), 404},
		{"disable user", request("POST", "/admin/users/4/disable", "", "Cookie", adminHeader), 200},
		{"disable yourself", request("POST", "/admin/users/2/disable", "", "Cookie", adminHeader), 422},
		{"enable user", request("POST", "/admin/users/4/enable", "", "Cookie", adminHeader), 200},
		{"set role", jsonRequest("PUT", "/admin/users/4/role", `{"role":"admin"}`, "Cookie", adminHeader), 200},
		{"set role, bad role", jsonRequest("PUT", "/admin/users/4/role", `{"role":"root"}`, "Cookie", adminHeader), 422},
		{"set role, XML", request("PUT", "/admin/users/4/role", `<x/>`, "Cookie", adminHeader, "Content-Type", "application/xml"), 415},
		{"log a user out", request("POST", "/admin/users/1/logout", "", "Cookie", adminHeader), 200},
		{"log yourself out", request("POST", "/admin/users/2/logout", "", "Cookie", adminHeader), 422},
		{"reset second factor", request("DELETE", "/admin/users/1/second-factor", "", "Cookie", adminHeader), 204},
		{"reset second factor, unknown", request("DELETE", "/admin/users/999/second-factor", "", "Cookie", adminHeader), 404},
		{"token, password grant", tokenRequest("/token", url.Values{"grant_type": {"password"}, "username": {"john"}, "password": {"secret123"}}), 200},
		{"token, wrong password", tokenRequest("/token", url.Values{"grant_type": {"password"}, "username": {"john"}, "password": {"nope-nope"}}), 400},
		{"token, unknown grant", tokenRequest("/token", url.Values{"grant_type": {"implicit"}}), 400},
		{"token, a user re-enabled", tokenRequest("/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"securepass"}}), 200},
		{"revoke token", tokenRequest("/token/revoke", url.Values{"token": {"made-up"}}), 200},
		{"revoke token, none", tokenRequest("/token/revoke", url.Values{}), 400},
		{"jwks", request("GET", "/.well-known/jwks.json", ""), 200},
		{"users me", request("GET", "/users/me", "", "Authorization", "Bearer "+access), 200},
		{"users me, bad token", request("GET", "/users/me", "", "Authorization", "Bearer a.b.c"), 401},
		{"users me, no token", request("GET", "/users/me", ""), 401},
		{"whoami, token", request("GET", "/whoami", "", "Authorization", "Bearer "+access), 200},
		{"roll key", jsonRequest("POST", "/keys/2/roll", `{"grace":"1h"}`, "Cookie", sessionHeader), 201},
		{"roll key, not yours", jsonRequest("POST", "/keys/1/roll", `{}`, "Cookie", sessionHeader), 404},
		{"roll key, bad grace", jsonRequest("POST", "/keys/2/roll", `{"grace":"1y"}`, "Cookie", sessionHeader), 422},
		{"forgot password", jsonRequest("POST", "/password/forgot", `{"login":"alice"}`), 202},
		{"forgot password, unknown", jsonRequest("POST", "/password/forgot", `{"login":"nobody@example.com"}`), 202},
		{"forgot password, no login", jsonRequest("POST", "/password/forgot", `{}`), 422},
		{"reset password, bad token", jsonRequest("POST", "/password/reset", `{"token":"nope","new_password":"a-better-password"}`), 422},
		{"change email", jsonRequest("POST", "/account/email", `{"email":"john.new@example.org"}`, "Cookie", sessionHeader), 202},
		{"change email, taken", jsonRequest("POST", "/account/email", `{"email":"ADMIN@example.com"}`, "Cookie", sessionHeader), 409},
		{"change email, not an address", jsonRequest("POST", "/account/email", `{"email":"nope"}`, "Cookie", sessionHeader), 422},
		{"change email, anonymous", jsonRequest("POST", "/account/email", `{"email":"x@example.org"}`), 401},
		{"verify email, bad token", request("GET", "/account/email/verify?token=nope", ""), 422},
		{"basic, second factor", request("GET", "/basic/profile", "", "Authorization", basicAuth("carol", "carol-password")), 403},
		{"basic admin, second factor", request("GET", "/basic/admin", "", "Authorization", basicAuth("carol", "carol-password")), 403},
		{"whoami, second factor", request("GET", "/whoami", "", "Authorization", basicAuth("carol", "carol-password")), 403},
		{"login, second factor", jsonRequest("POST", "/login", `{"username":"carol","password":"carol-password"}`), 202},
		{"verify login, no pending login", jsonRequest("POST", "/login/verify", `{"code":"123456"}`), 401},
		{"verify login, no code", jsonRequest("POST", "/login/verify", `{}`, "Cookie", pendingHeader), 422},
		{"start totp", request("POST", "/account/totp", "", "Cookie", sessionHeader), 200},
		{"start totp, already on", request("POST", "/account/totp", "", "Cookie", carolHeader), 409},
		{"confirm totp, wrong code", jsonRequest("POST", "/account/totp/confirm", `{"code":"12"}`, "Cookie", sessionHeader), 422},
		{"disable totp, wrong password", jsonRequest("POST", "/account/totp/disable", `{"password":"nope-nope","code":"123456"}`, "Cookie", carolHeader), 422},
		{"disable totp, not on", jsonRequest("POST", "/account/totp/disable", `{"password":"password123","code":"123456"}`, "Cookie", sessionHeader), 409},
		{"new recovery codes", jsonRequest("POST", "/account/recovery-codes", `{"password":"carol-password"}`, "Cookie", carolHeader), 200},
		{"new recovery codes, not on", jsonRequest("POST", "/account/recovery-codes", `{"password":"password123"}`, "Cookie", sessionHeader), 409},
		{"passkey options", request("POST", "/account/passkeys/options", "", "Cookie", sessionHeader), 200},
		{"passkey options, anonymous", request("POST", "/account/passkeys/options", ""), 401},
		{"passkeys", request("GET", "/account/passkeys", "", "Cookie", sessionHeader), 200},
		{"register passkey, no credential", jsonRequest("POST", "/account/passkeys", `{"name":"x"}`, "Cookie", sessionHeader), 422},
		{"register passkey, no challenge", jsonRequest("POST", "/account/passkeys", `{"credential":{}}`, "Cookie", adminHeader), 400},
		{"remove passkey, not yours", request("DELETE", "/account/passkeys/999", "", "Cookie", sessionHeader), 404},
		{"passkey login options", request("POST", "/login/passkey/options", ""), 200},
		{"passkey login, no challenge", jsonRequest("POST", "/login/passkey", `{"credential":{}}`), 400},
		{"passkey login, form", request("POST", "/login/passkey", `a=1`, "Content-Type", "text/plain"), 403},
		{"logout", request("POST", "/logout", "", "Cookie", sessionHeader), 200},
	}
	checked := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqBody []byte
			if tt.req.Body != nil {
				reqBody, _ = io.ReadAll(tt.req.Body)
				tt.req.Body = io.NopCloser(bytes.NewReader(reqBody))
			}
			route, params, err := router.FindRoute(tt.req)
			if err != nil {
				t.Fatalf("not in the document: %v", err)
			}
			checked[route.Method+" "+route.Path] = true
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			validateResponse(t, tt.req, reqBody, route, params, resp, body)
		})
	}
	for path, item := range doc.Spec.Paths.Map() {
		for method := range item.Operations() {
			if !checked[method+" "+path] {
				t.Errorf("no example call checks %s %s", method, path)
			}
		}
	}
}

func validateResponse(t *testing.T, req *http.Request, reqBody []byte, route *routers.Route, params map[string]string, resp *http.Response, body string) {
	t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(strings.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(t.Context(), input); err != nil {
		t.Errorf("response does not match the document: %v\nbody: %s", err, body)
	}
}

// The served document is the embedded one, and it is valid OpenAPI 3.1.
func TestOpenAPIDocumentIsServed(t *testing.T) {
	a := newTestApp(t, nil)
	resp, body := a.do(t, request("GET", "/openapi.json", ""))
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("got %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `"openapi":"3.1.0"`) || !slices.Contains([]int{len(a.apiDoc(t).JSON)}, len(body)) {
		t.Errorf("unexpected document: %.200s", body)
	}
}

// Each operation, called exactly as the document's own examples say (its request
// body and parameter examples, authenticated with its x-demo credentials), answers
// with its documented success status, a body its schema accepts and, apart from
// what varies from run to run (times, secrets), the body of its documented example.
// The request itself must be valid by the document too.
func TestDocumentedExamplesWork(t *testing.T) {
	for _, o := range newTestApp(t, nil).doc.Operations {
		t.Run(o.OperationID, func(t *testing.T) {
			a := newTestApp(t, nil) // examples create users and keys and change passwords
			router, err := gorillamux.NewRouter(a.doc.Spec)
			if err != nil {
				t.Fatalf("router: %v", err)
			}
			path := o.Path
			for _, p := range o.Parameters {
				if p.Value.In == "path" {
					if p.Value.Example == nil {
						t.Fatalf("path parameter %s has no example", p.Value.Name)
					}
					path = strings.ReplaceAll(path, "{"+p.Value.Name+"}", fmt.Sprint(p.Value.Example))
				}
			}
			var reqBody []byte
			var headers []string
			if rb := o.RequestBody; rb != nil {
				if mt := rb.Value.Content.Get("application/x-www-form-urlencoded"); mt != nil && mt.Example != nil {
					form := url.Values{} // a protocol endpoint's form (POST /token)
					for k, v := range mt.Example.(map[string]any) {
						form.Set(k, fmt.Sprint(v))
					}
					reqBody = []byte(form.Encode())
					headers = append(headers, "Content-Type", "application/x-www-form-urlencoded")
				} else {
					mt := rb.Value.Content.Get("application/json")
					if mt == nil || mt.Example == nil {
						t.Fatal("the JSON request body has no example")
					}
					reqBody, _ = json.Marshal(mt.Example)
					headers = append(headers, "Content-Type", "application/json")
				}
			}
			req := request(o.Method, path, string(reqBody), headers...)
			demo := o.Demo()
			if o.Security != nil && len(*o.Security) > 0 {
				for scheme := range (*o.Security)[0] {
					switch scheme {
					case "basicAuth":
						req.Header.Set("Authorization", basicAuth(demo.Username, demo.Password))
					case "bearerAuth":
						req.Header.Set("Authorization", "Bearer "+demo.APIKey)
					case "apiKeyHeader":
						req.Header.Set("X-API-Key", demo.APIKey)
					case "sessionCookie":
						withCookie(req, a.mustLogin(t, demo.Username, demo.Password))
					case "oauth2Password":
						req.Header.Set("Authorization", "Bearer "+a.grant(t, demo.Username, demo.Password, "").AccessToken)
					default:
						t.Fatalf("no demo credentials for scheme %s", scheme)
					}
				}
			}
			if live := liveParams[o.OperationID]; live != nil {
				live(t, a, req) // a parameter only a running session has
				if b, _ := io.ReadAll(req.Body); len(b) > 0 {
					reqBody = b // or a body only a running ceremony can make (passkeys)
				}
			}
			if live := liveBodies[o.OperationID]; live != nil {
				reqBody = live(t, a, req, reqBody) // a body only the running app can know (a TOTP code)
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("not in the document: %v", err)
			}
			req.Body = io.NopCloser(bytes.NewReader(reqBody))
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if err := openapi3filter.ValidateRequest(t.Context(), in); err != nil {
				t.Errorf("the documented request is not valid by the document: %v", err)
			}
			req.Body = io.NopCloser(bytes.NewReader(reqBody))

			want := ""
			for _, code := range sortedMapKeys(o.Responses.Map()) {
				if strings.HasPrefix(code, "2") {
					want = code
					break
				}
			}
			resp, body := a.do(t, req)
			if fmt.Sprint(resp.StatusCode) != want {
				t.Fatalf("status %d, want the documented %s: %s", resp.StatusCode, want, body)
			}
			validateResponse(t, req, reqBody, route, params, resp, body)

			mt := o.Responses.Value(want).Value.Content.Get("application/json")
			if mt == nil {
				return // 204: no body
			}
			if mt.Example == nil {
				t.Fatal("the success response has no example")
			}
			var got any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			example, _ := json.Marshal(mt.Example)
			var exampleValue any
			_ = json.Unmarshal(example, &exampleValue)
			if err := matchesExample(exampleValue, got, "$"); err != nil {
				t.Errorf("the real answer is not the documented example: %v\nexample: %s\nanswer:  %s", err, example, body)
			}
		})
	}
}

// liveParams put into an example request what only the running app can know,
// keyed by operation: a session's handle is random, so the example's is replaced
// by that of the session the request carries.
var liveParams = map[string]func(t *testing.T, a *testApp, req *http.Request){
	// The example's token is made live: its digest is stored as alice's.
	"resetPassword": func(t *testing.T, a *testApp, _ *http.Request) {
		t.Helper()
		a.liveToken(t, store.TokenReset, "kX3vQ9pL2mN8rT5wY7zB4cD6fH1jG0sAeUiOoPqRsTu")
	},
	"verifyEmail": func(t *testing.T, a *testApp, req *http.Request) {
		t.Helper()
		token := "lPd7nJ0m2i9q3YrX5vBc8kWfA1sE6tHgUoZyRxQwTeM"
		a.liveToken(t, store.TokenVerify, token)
		req.URL.RawQuery = "token=" + token
		req.RequestURI = req.URL.RequestURI()
	},
	"registerPasskey":  livePasskeyRegistration,
	"listPasskeys":     func(t *testing.T, a *testApp, req *http.Request) { livePasskey(t, a, req.Cookies()) },
	"removePasskey":    func(t *testing.T, a *testApp, req *http.Request) { livePasskey(t, a, req.Cookies()) },
	"loginWithPasskey": livePasskeyLogin,
	"endSession": func(t *testing.T, a *testApp, req *http.Request) {
		t.Helper()
		list := request("GET", "/account/sessions", "")
		for _, c := range req.Cookies() {
			list.AddCookie(c)
		}
		_, body := a.do(t, list)
		var got struct {
			Sessions []struct{ ID string } `json:"sessions"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Sessions) == 0 {
			t.Fatalf("listing sessions: %s", body)
		}
		req.URL.Path = strings.Replace(req.URL.Path, "q3x7k2m4p5z6r2t7", got.Sessions[0].ID, 1)
		req.RequestURI = req.URL.RequestURI()
	},
}

// variesByRun are the fields whose values differ from run to run: only their
// presence is compared with the example.
var variesByRun = map[string]bool{"created_at": true, "last_used_at": true, "expires_at": true, "revoked_at": true,
	"last_login_at": true, "key": true, "prefix": true, "last_seen_at": true, "at": true, "client_ip": true, "disabled_at": true,
	"access_token": true, "refresh_token": true, "x": true, "kid": true, "email_verified_at": true,
	"secret": true, "otpauth_uri": true, "recovery_codes": true}

// variesByClient are the fields, by where they stand, that depend on the client the
// test is (its address and User-Agent) or are random.
var variesByClient = map[string]bool{"$.publicKey.challenge": true, "$.publicKey.user.id": true, "$.sessions.id": true, "$.sessions.ip": true, "$.sessions.user_agent": true,
	"$.sessions.device": true}

// matchesExample reports how got differs from the documented example: every field
// of the example must be in got with the same value (variesByRun fields need only
// be there), and every item of an example array must match an item of got's.
func matchesExample(example, got any, at string) error {
	switch ex := example.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", at, got)
		}
		for k, v := range ex {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s is missing", at, k)
			}
			if variesByRun[k] || variesByClient[at+"."+k] {
				continue
			}
			if err := matchesExample(v, gv, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %v", at, got)
		}
		for i, v := range ex {
			if !slices.ContainsFunc(g, func(gv any) bool { return matchesExample(v, gv, at) == nil }) {
				return fmt.Errorf("%s[%d] = %v matches no item of %v", at, i, v, g)
			}
		}
	default:
		if !reflect.DeepEqual(example, got) {
			return fmt.Errorf("%s = %v, want %v", at, got, example)
		}
	}
	return nil
}

// TestDocumentIsComplete holds the document to its own promises: OpenAPI 3.1 with
// valid examples; every operation tagged, summarised and explicit about its
// authentication, with demo credentials to try it; every response described with
// an example, every error one of the Error envelope whose status and type agree;
// every route with a body documenting what a bad body gets; no unused responses.
func TestDocumentIsComplete(t *testing.T) {
	doc := newTestApp(t, nil).doc
	spec := doc.Spec
	if spec.OpenAPI != "3.1.0" || !spec.IsOpenAPI31OrLater() {
		t.Fatalf("openapi: %q, want 3.1.0", spec.OpenAPI)
	}
	if err := spec.Validate(t.Context(), openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("not valid OpenAPI 3.1: %v", err)
	}
	used := map[string]bool{}
	for _, o := range doc.Operations {
		t.Run(o.OperationID, func(t *testing.T) {
			if o.OperationID == "" || o.Summary == "" || len(o.Tags) == 0 || spec.Tags.Get(o.Tags[0]) == nil {
				t.Errorf("%s %s needs an operationId, a summary and a declared tag", o.Method, o.Path)
			}
			if o.Security == nil {
				t.Fatal("says nothing about authentication (security: [] for a public route)")
			}
			demo := o.Demo()
			for _, req := range *o.Security {
				for scheme := range req {
					needs := map[string]bool{"basicAuth": demo.Password != "", "sessionCookie": demo.Password != "",
						"oauth2Password": demo.Password != "",
						"bearerAuth":     demo.APIKey != "", "apiKeyHeader": demo.APIKey != ""}
					if ok, known := needs[scheme]; !known || !ok {
						t.Errorf("x-demo lacks credentials for %s", scheme)
					}
				}
			}
			bodyErrors := []string{"400", "413", "415", "422"}
			if protocolOps[o.OperationID] {
				bodyErrors = []string{"400", "413"} // a form it cannot read is invalid_request
			}
			if o.RequestBody != nil {
				for _, code := range bodyErrors {
					if o.Responses.Value(code) == nil {
						t.Errorf("reads a body but does not document %s", code)
					}
				}
			}
			success := false
			for code, r := range o.Responses.Map() {
				if r.Ref != "" {
					used[r.Ref] = true
				}
				status, _ := strconv.Atoi(code)
				success = success || status < 300
				rv := r.Value
				if rv.Description == nil || *rv.Description == "" {
					t.Errorf("%s has no description", code)
				}
				mt := rv.Content.Get("application/json")
				if mt == nil {
					if status != 204 {
						t.Errorf("%s has no JSON body", code)
					}
					continue
				}
				var examples []any
				if mt.Example != nil {
					examples = append(examples, mt.Example)
				}
				for _, e := range mt.Examples {
					examples = append(examples, e.Value.Value)
				}
				if len(examples) == 0 {
					t.Errorf("%s has no example", code)
				}
				if status < 400 {
					continue
				}
				if protocolOps[o.OperationID] && refName(mt.Schema) == "OAuthError" {
					continue // RFC 6749 §5.2, at the token endpoint only
				}
				if refName(mt.Schema) != "Error" {
					t.Errorf("%s is not the Error envelope", code)
				}
				for _, e := range examples {
					env, _ := e.(map[string]any)["error"].(map[string]any)
					if fmt.Sprint(env["status_code"]) != code || env["type"] != errorTypes[status] {
						t.Errorf("%s example says %v %v, want %s %s", code, env["status_code"], env["type"], code, errorTypes[status])
					}
				}
			}
			if !success {
				t.Error("documents no success")
			}
		})
	}
	for name := range spec.Components.Responses {
		if !used["#/components/responses/"+name] {
			t.Errorf("components.responses.%s is used by no operation", name)
		}
	}
}
