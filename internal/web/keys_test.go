package web

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestKeysJSON covers the JSON twins a session client uses: GET/POST /keys, DELETE /keys/:id.
func TestKeysJSON(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))

	t.Run("creating a key answers 201 with the secret, once", func(t *testing.T) {
		resp, body := alice.do(t, jsonRequest("POST", "/keys", `{"name":"ci","permissions":["write","read"],"expires_in":"720h"}`))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if keys := jsonFields(got); !slices.Equal(keys, []string{"created_at", "expires_at", "id", "key", "name", "permissions", "prefix"}) {
			t.Errorf("fields %v", keys)
		}
		key, _ := got["key"].(string)
		if !strings.HasPrefix(key, "sk_live_") || !strings.HasPrefix(key, got["prefix"].(string)) {
			t.Errorf("key %q prefix %q", key, got["prefix"])
		}
		if perms := got["permissions"].([]any); len(perms) != 2 || perms[0] != "read" || perms[1] != "write" {
			t.Errorf("permissions %v", perms)
		}
		exp, _ := time.Parse(time.RFC3339Nano, got["expires_at"].(string))
		if d := time.Until(exp); d < 719*time.Hour || d > 721*time.Hour {
			t.Errorf("expires in %v", d)
		}
		// The key works, and the list never shows it again.
		if resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer "+key)); resp.StatusCode != 200 {
			t.Errorf("the new key does not work: %d", resp.StatusCode)
		}
		_, list := alice.do(t, request("GET", "/keys", ""))
		if strings.Contains(list, key) {
			t.Errorf("GET /keys shows the secret")
		}
	})

	t.Run("the list has the documented fields", func(t *testing.T) {
		resp, body := alice.do(t, request("GET", "/keys", ""))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var got struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Keys) < 2 {
			t.Fatalf("%v %s", err, body)
		}
		for _, k := range got.Keys {
			if keys := jsonFields(k); !slices.Equal(keys, []string{"created_at", "expires_at", "id", "last_used_at", "name", "permissions", "prefix", "revoked_at"}) {
				t.Errorf("fields %v", keys)
			}
		}
	})

	bad := []struct {
		name      string
		body      string
		wantField string
		want      int
	}{
		{"no name", `{"permissions":["read"]}`, "name", 422},
		{"no permissions", `{"name":"x"}`, "permissions", 422},
		{"an unknown permission", `{"name":"x","permissions":["admin"]}`, "permissions", 422},
		{"permissions not a list", `{"name":"x","permissions":"read"}`, "permissions", 422},
		{"an expiry that is no duration", `{"name":"x","permissions":["read"],"expires_in":"soon"}`, "expires_in", 422},
		{"a negative expiry", `{"name":"x","permissions":["read"],"expires_in":"-1h"}`, "expires_in", 422},
		{"an expiry over five years", `{"name":"x","permissions":["read"],"expires_in":"50000h"}`, "expires_in", 422},
		{"malformed JSON", `{"name":`, "", 400},
		{"not an object", `["x"]`, "body", 422},
	}
	for _, tt := range bad {
		t.Run("creating a key with "+tt.name+" is refused", func(t *testing.T) {
			resp, body := alice.do(t, jsonRequest("POST", "/keys", tt.body))
			if resp.StatusCode != tt.want {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			e := envelope(t, body)
			if tt.wantField != "" && (len(e.Details) == 0 || e.Details[0].Field != tt.wantField) {
				t.Errorf("details %+v", e.Details)
			}
		})
	}

	t.Run("revoking: own key 204 and dead at once, anything else 404", func(t *testing.T) {
		_, body := alice.do(t, jsonRequest("POST", "/keys", `{"name":"to revoke","permissions":["read"]}`))
		var k keyCreatedResponse
		if err := json.Unmarshal([]byte(body), &k); err != nil {
			t.Fatal(err)
		}
		johnsKey := keyIDByName(t, a, "john")
		tests := []struct {
			name string
			path string
			want int
		}{
			{"own key", "/keys/" + strconv.FormatInt(k.ID, 10), 204},
			{"own key again", "/keys/" + strconv.FormatInt(k.ID, 10), 204},
			{"another user's key", "/keys/" + strconv.FormatInt(johnsKey, 10), 404},
			{"an unknown id", "/keys/99999", 404},
			{"a non-numeric id", "/keys/abc", 404},
			{"id zero", "/keys/0", 404},
			{"a negative id", "/keys/-1", 404},
			{"an id past int64", "/keys/99999999999999999999", 404},
		}
		for _, tt := range tests {
			resp, body := alice.do(t, request("DELETE", tt.path, ""))
			if resp.StatusCode != tt.want {
				t.Errorf("%s: %d %s", tt.name, resp.StatusCode, body)
			}
			if tt.want == 404 {
				if e := envelope(t, body); e.Type != "not_found_error" {
					t.Errorf("%s: %+v", tt.name, e)
				}
			}
		}
		if resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer "+k.Key)); resp.StatusCode != 401 {
			t.Errorf("a revoked key still works: %d", resp.StatusCode)
		}
		if resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer sk_test_123")); resp.StatusCode != 200 {
			t.Errorf("john's key stopped working: %d", resp.StatusCode)
		}
	})

	t.Run("without a session the key routes answer 401", func(t *testing.T) {
		for _, req := range []*http.Request{request("GET", "/keys", ""), jsonRequest("POST", "/keys", `{"name":"x","permissions":["read"]}`), request("DELETE", "/keys/1", "")} {
			resp, body := a.do(t, req)
			if resp.StatusCode != 401 || envelope(t, body).Message != "Not authenticated" {
				t.Errorf("%s %s: %d %s", req.Method, req.URL, resp.StatusCode, body)
			}
		}
	})

	t.Run("creating and revoking are audited", func(t *testing.T) {
		events, err := a.auth.RecentAudit(t.Context(), "alice", 50)
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range events {
			actions = append(actions, e.Action)
		}
		for _, want := range []string{"key.create", "key.revoke"} {
			if !slices.Contains(actions, want) {
				t.Errorf("no %s event in %v", want, actions)
			}
		}
	})
}

// TestKeysInTheBrowser walks the dashboard's key flow with htmx and without.
func TestKeysInTheBrowser(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	c.login(t, "alice", "password123")
	token := c.token(t, "/dashboard")

	resp, body := c.htmx(t, "POST", "/keys", urlValues("name", "deploy", "permissions", "read", "permissions", "write", "expires_in", "168h"), token)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	secret := regexp.MustCompile(`sk_live_[A-Z0-9]+`).FindString(body)
	if secret == "" {
		t.Fatalf("no secret in %s", body)
	}
	mustContain(t, body, `id="keys"`, `hx-history="false"`, "only time it is shown", `data-copy="new-key-value"`, "deploy", "read, write")
	mustNotContain(t, body, "<html")

	_, page := c.page(t, "/dashboard")
	mustNotContain(t, page, secret)
	mustContain(t, page, "deploy", "active")

	t.Run("a bad key form comes back as the form, with the error on the field", func(t *testing.T) {
		resp, body := c.htmx(t, "POST", "/keys", urlValues("name", "", "permissions", "read"), token)
		if resp.StatusCode != 422 || resp.Header.Get("HX-Retarget") != "#key-form" {
			t.Fatalf("%d retarget %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
		mustContain(t, body, `id="key-form"`, `aria-describedby="key-name-error key-name-hint"`, "Name must be 1-64 characters")
		// Without JavaScript: the whole dashboard with the form's error.
		resp, body = c.form(t, "/keys", urlValues("name", "x", csrfFormField, token))
		if resp.StatusCode != 422 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, body, "<html", "Your recent activity", "Permissions must be")
	})

	t.Run("htmx revokes the row in place", func(t *testing.T) {
		id := keyIDByName(t, a, "alice")
		resp, body := c.htmx(t, "DELETE", "/keys/"+strconv.FormatInt(id, 10), nil, token)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		mustContain(t, body, `<tr id="key-`+strconv.FormatInt(id, 10)+`"`, "revoked")
		mustNotContain(t, body, "<html", "Revoke<")
	})

	t.Run("a plain form revokes and goes back to the dashboard", func(t *testing.T) {
		c.form(t, "/keys", urlValues("name", "plain", "permissions", "read", csrfFormField, token))
		_, body := c.page(t, "/dashboard")
		mustContain(t, body, "<html", "Key “plain” created")
		id := keyIDByName(t, a, "alice")
		resp, _ := c.form(t, "/keys/"+strconv.FormatInt(id, 10)+"/revoke", urlValues(csrfFormField, token))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/dashboard#keys" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, page := c.page(t, "/dashboard")
		mustContain(t, page, "The key has been revoked.")
	})

	t.Run("an htmx error outside a form goes to the status region", func(t *testing.T) {
		resp, body := c.htmx(t, "DELETE", "/keys/99999", nil, token)
		if resp.StatusCode != 404 || resp.Header.Get("HX-Retarget") != "#status" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
		mustContain(t, body, `role="alert"`, "API key not found")
	})
}

// keyIDByName returns the ID of the newest key of a user.
func keyIDByName(t testing.TB, a *testApp, username string) int64 {
	t.Helper()
	p, err := a.auth.UserPrincipalByName(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := a.auth.ListAPIKeys(t.Context(), p.UserID)
	if err != nil || len(keys) == 0 {
		t.Fatalf("no keys for %s: %v", username, err)
	}
	return keys[0].ID
}

func jsonFields(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
