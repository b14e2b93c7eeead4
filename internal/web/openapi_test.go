package web

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// browserOnlyRoutes serve HTML or assets only; everything else the app serves is a
// JSON route and must be in the OpenAPI document.
var browserOnlyRoutes = map[string]bool{
	"GET /":                  true,
	"GET /login":             true,
	"GET /register":          true,
	"GET /account":           true,
	"POST /keys/{id}/revoke": true, // the no-JavaScript twin of DELETE /keys/{id}
}

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
