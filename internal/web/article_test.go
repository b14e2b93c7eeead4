package web

import (
	"net/http"
	"strings"
	"testing"
)

// The article's routes answer exactly as the article's FastAPI app did.
func TestArticleRoutes(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.mustLogin(t, "alice", "password123")

	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string
	}{
		{"basic profile welcomes john", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "secret123")),
			200, `{"message":"Welcome john!"}`},
		{"basic admin lets the admin in", request("GET", "/basic/admin", "", "Authorization", basicAuth("admin", "supersecret")),
			200, `{"message":"You're in the admin zone."}`},
		{"basic admin refuses a user", request("GET", "/basic/admin", "", "Authorization", basicAuth("john", "secret123")),
			403, `{"error":{"message":"Admins only","type":"authorization_error","status_code":403}}`},
		{"basic profile refuses a wrong password", request("GET", "/basic/profile", "", "Authorization", basicAuth("john", "nope-nope")),
			401, `{"error":{"message":"Invalid credentials","type":"authentication_error","status_code":401}}`},
		{"basic profile refuses an unknown user", request("GET", "/basic/profile", "", "Authorization", basicAuth("mallory", "secret123")),
			401, `{"error":{"message":"Invalid credentials","type":"authentication_error","status_code":401}}`},
		{"basic profile without credentials", request("GET", "/basic/profile", ""),
			401, `{"error":{"message":"Not authenticated","type":"authentication_error","status_code":401}}`},
		{"api key data with a read key", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_live_456"),
			200, `{"data":["item1","item2"]}`},
		{"api key data with X-API-Key", request("GET", "/apikey/data", "", "X-API-Key", "sk_test_123"),
			200, `{"data":["item1","item2"]}`},
		{"api key create echoes the item", jsonRequest("POST", "/apikey/create", `{"name": "widget", "tags": ["a", "b"], "n": 1.5}`, "Authorization", "Bearer sk_test_123"),
			200, `{"message":"Item created","item":{"name":"widget","tags":["a","b"],"n":1.5}}`},
		{"api key create refuses a read-only key", jsonRequest("POST", "/apikey/create", `{"name":"widget"}`, "Authorization", "Bearer sk_live_456"),
			403, `{"error":{"message":"Write access required","type":"authorization_error","status_code":403}}`},
		{"api key data refuses an unknown key", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_nope_000"),
			401, `{"error":{"message":"Invalid API Key","type":"authentication_error","status_code":401}}`},
		{"api key data without a key", request("GET", "/apikey/data", ""),
			401, `{"error":{"message":"API key required","type":"authentication_error","status_code":401}}`},
		{"login with the article's JSON", jsonRequest("POST", "/login", `{"username":"bob","password":"securepass"}`),
			200, `{"message":"Login successful"}`},
		{"login with a wrong password", jsonRequest("POST", "/login", `{"username":"bob","password":"wrong-pass"}`),
			401, `{"error":{"message":"Invalid credentials","type":"authentication_error","status_code":401}}`},
		{"dashboard welcomes the logged-in user", withCookie(request("GET", "/dashboard", ""), alice),
			200, `{"message":"Welcome to your dashboard, alice!"}`},
		{"dashboard without a session", request("GET", "/dashboard", ""),
			401, `{"error":{"message":"Not authenticated","type":"authentication_error","status_code":401}}`},
		{"logout without a session still succeeds", request("POST", "/logout", ""),
			200, `{"message":"Logged out successfully"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %s\nwant %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q, want JSON", ct)
			}
		})
	}
}

// /whoami says who the caller is, by whichever of the three methods it used.
func TestWhoami(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.mustLogin(t, "alice", "password123")
	tests := []struct {
		name     string
		req      *http.Request
		wantBody string
	}{
		{"basic", request("GET", "/whoami", "", "Authorization", basicAuth("admin", "supersecret")),
			`{"username":"admin","role":"admin","method":"basic","permissions":["read","write","admin"],"second_factor":null}`},
		{"api key", request("GET", "/whoami", "", "Authorization", "Bearer sk_test_123"),
			`{"username":"john","role":"user","method":"api_key","permissions":["read","write"],"second_factor":null}`},
		{"session", withCookie(request("GET", "/whoami", ""), alice),
			`{"username":"alice","role":"user","method":"session","permissions":["read","write"],"second_factor":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != 200 || body != tt.wantBody {
				t.Errorf("got %d %s, want 200 %s", resp.StatusCode, body, tt.wantBody)
			}
		})
	}
	t.Run("anonymous is refused with both challenges", func(t *testing.T) {
		resp, body := a.do(t, request("GET", "/whoami", ""))
		if resp.StatusCode != 401 || envelope(t, body).Message != "Not authenticated" {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 {
			t.Errorf("WWW-Authenticate = %q, want Basic and Bearer", got)
		}
	})
	t.Run("a wrong password is not rescued by a valid session", func(t *testing.T) {
		resp, _ := a.do(t, withCookie(request("GET", "/whoami", "", "Authorization", basicAuth("alice", "wrong-pass")), alice))
		if resp.StatusCode != 401 {
			t.Errorf("status = %d, want 401", resp.StatusCode)
		}
	})
}
