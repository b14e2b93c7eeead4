package web

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"fiberauth/internal/sessions"
)

func TestRegister(t *testing.T) {
	a := newTestApp(t, nil)
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantBody   string // exact, when set
		wantField  string
	}{
		{"a new user is created", `{"username":"carol","password":"long-enough-1"}`, 201, "", ""},
		{"a taken name is a conflict", `{"username":"alice","password":"long-enough-1"}`, 409, "", ""},
		{"a taken name in other case is a conflict", `{"username":"ALICE","password":"long-enough-1"}`, 409, "", ""},
		{"a short password breaks the policy", `{"username":"dave","password":"short"}`, 422, "", "password"},
		{"a password over 72 bytes breaks the policy", `{"username":"dave","password":"` + strings.Repeat("x", 73) + `"}`, 422, "", "password"},
		{"a bad username breaks the policy", `{"username":"a b","password":"long-enough-1"}`, 422, "", "username"},
		{"a missing password is required", `{"username":"dave"}`, 422, "", "password"},
		{"malformed JSON", `{"username":`, 400, `{"error":{"message":"Malformed JSON body","type":"bad_request_error","status_code":400}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, jsonRequest("POST", "/register", tt.body))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body %s", body)
			}
			if tt.wantStatus == 201 {
				var got map[string]any
				if err := json.Unmarshal([]byte(body), &got); err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(jsonFields(got), []string{"id", "role", "username"}) || got["role"] != "user" || got["username"] != "carol" {
					t.Errorf("body %s", body)
				}
				a.mustLogin(t, "carol", "long-enough-1")
				return
			}
			e := envelope(t, body)
			if tt.wantStatus == 409 && (e.Type != "conflict_error" || len(e.Details) != 0) {
				t.Errorf("409 envelope %+v: want conflict_error without details (design.md: details on 422 only)", e)
			}
			if tt.wantField != "" && (len(e.Details) == 0 || e.Details[0].Field != tt.wantField) {
				t.Errorf("details %+v", e.Details)
			}
		})
	}

	t.Run("a browser signs up and is logged in", func(t *testing.T) {
		c := a.client()
		token := c.token(t, "/register")
		resp, body := c.form(t, "/register", urlValues("username", "erin", "password", "long-enough-1", "confirm_password", "other-one-11", csrfFormField, token))
		if resp.StatusCode != 422 {
			t.Fatalf("mismatch: %d", resp.StatusCode)
		}
		mustContain(t, body, `id="register-confirm-error"`, "does not match", `value="erin"`)
		mustNotContain(t, body, "long-enough-1")
		resp, _ = c.htmx(t, "POST", "/register", urlValues("username", "erin", "password", "long-enough-1", "confirm_password", "long-enough-1"), token)
		if resp.StatusCode != 204 || resp.Header.Get("HX-Redirect") != "/dashboard" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("HX-Redirect"))
		}
		_, page := c.page(t, "/dashboard")
		mustContain(t, page, "Hello, erin", "Your account is ready")
		events, _ := a.auth.RecentAudit(t.Context(), "erin", 10)
		if len(events) == 0 || events[len(events)-1].Action != "register" {
			t.Errorf("no register event: %+v", events)
		}
	})

	t.Run("turned off, registration is not found", func(t *testing.T) {
		off := newTestApp(t, map[string]string{"ALLOW_REGISTRATION": "false"})
		for _, req := range []*http.Request{
			jsonRequest("POST", "/register", `{"username":"carol","password":"long-enough-1"}`),
			request("GET", "/register", "", "Accept", "text/html"),
		} {
			resp, body := off.do(t, req)
			if resp.StatusCode != 404 {
				t.Errorf("%s: %d %s", req.Method, resp.StatusCode, body)
			}
		}
		_, login := off.client().page(t, "/login")
		mustNotContain(t, login, `href="/register"`)
	})
}

func TestChangePassword(t *testing.T) {
	a := newTestApp(t, nil)
	this, other := a.client(), a.client()
	this.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))
	other.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))
	oldCookie := this.jar[sessions.CookieName].Value

	for _, tt := range []struct {
		name, body string
		want       int
		wantField  string
	}{
		{"a wrong current password", `{"current_password":"nope-nope","new_password":"another-pass-1"}`, 422, "current_password"},
		{"a new password that breaks the policy", `{"current_password":"password123","new_password":"short"}`, 422, "new_password"},
		{"no new password", `{"current_password":"password123"}`, 422, "new_password"},
	} {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			resp, body := this.do(t, jsonRequest("POST", "/account/password", tt.body))
			if resp.StatusCode != tt.want || envelope(t, body).Details[0].Field != tt.wantField {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		})
	}

	resp, body := this.do(t, jsonRequest("POST", "/account/password", `{"current_password":"password123","new_password":"another-pass-1"}`))
	if resp.StatusCode != 200 || body != `{"message":"Password changed"}` {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	t.Run("this session goes on with a fresh ID", func(t *testing.T) {
		if this.jar[sessions.CookieName].Value == oldCookie {
			t.Fatal("the session ID did not change")
		}
		if resp, _ := this.do(t, request("GET", "/dashboard", "")); resp.StatusCode != 200 {
			t.Errorf("this session ended: %d", resp.StatusCode)
		}
		stale := request("GET", "/dashboard", "")
		stale.AddCookie(&http.Cookie{Name: sessions.CookieName, Value: oldCookie})
		if resp, _ := a.do(t, stale); resp.StatusCode != 401 {
			t.Errorf("the old ID still works: %d", resp.StatusCode)
		}
	})
	t.Run("the other session has ended", func(t *testing.T) {
		if resp, _ := other.do(t, request("GET", "/dashboard", "")); resp.StatusCode != 401 {
			t.Errorf("other session: %d", resp.StatusCode)
		}
	})
	t.Run("only the new password works, for Basic too", func(t *testing.T) {
		if resp, _ := a.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`)); resp.StatusCode != 401 {
			t.Errorf("old password: %d", resp.StatusCode)
		}
		if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123"))); resp.StatusCode != 401 {
			t.Errorf("old password over Basic: %d", resp.StatusCode)
		}
		a.mustLogin(t, "alice", "another-pass-1")
	})
	t.Run("it is audited", func(t *testing.T) {
		events, _ := a.auth.RecentAudit(t.Context(), "alice", 50)
		var outcomes []string
		for _, e := range events {
			if e.Action == "password.change" {
				outcomes = append(outcomes, e.Outcome)
			}
		}
		if !slices.Contains(outcomes, "success") || !slices.Contains(outcomes, "failure") {
			t.Errorf("password.change outcomes %v", outcomes)
		}
	})

	t.Run("a browser changes it through the account page", func(t *testing.T) {
		c := a.client()
		c.login(t, "john", "secret123")
		token := c.token(t, "/account")
		resp, body := c.htmx(t, "POST", "/account/password", urlValues("current_password", "wrong-one", "new_password", "brand-new-pass", "confirm_password", "brand-new-pass"), token)
		if resp.StatusCode != 422 || resp.Header.Get("HX-Retarget") != "#password-form" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
		mustContain(t, body, `aria-invalid="true" aria-describedby="password-current-error"`, "is not your current password")
		resp, _ = c.form(t, "/account/password", urlValues("current_password", "secret123", "new_password", "brand-new-pass", "confirm_password", "brand-new-pass", csrfFormField, token))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/account" {
			t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp, page := c.page(t, "/account")
		if resp.StatusCode != 200 {
			t.Fatalf("account after change: %d", resp.StatusCode)
		}
		mustContain(t, page, "Your password has been changed")
		// The next form works: the fresh session has a fresh token.
		resp, _ = c.form(t, "/logout", urlValues(csrfFormField, extractCSRFToken(t, page)))
		if resp.StatusCode != 303 {
			t.Errorf("logout after change: %d", resp.StatusCode)
		}
	})
}

func TestAdminUsers(t *testing.T) {
	a := newTestApp(t, nil)
	admin := a.client()
	admin.do(t, jsonRequest("POST", "/login", `{"username":"admin","password":"supersecret"}`))
	resp, body := admin.do(t, request("GET", "/admin/users", ""))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	var got struct {
		Users []map[string]any `json:"users"`
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Users) != 4 {
		t.Fatalf("%v %s", err, body)
	}
	if keys := jsonFields(got.Users[0]); !slices.Equal(keys, []string{"active_keys", "created_at", "id", "last_login_at", "role", "username"}) {
		t.Errorf("fields %v", keys)
	}
	_, page := admin.page(t, "/admin/users")
	mustContain(t, page, "<h1>Users</h1>", "alice", "bob", "john", `href="/admin/users" aria-current="page"`)

	alice := a.client()
	alice.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))
	if resp, body := alice.do(t, request("GET", "/admin/users", "")); resp.StatusCode != 403 {
		t.Errorf("a user: %d %s", resp.StatusCode, body)
	}
	if _, page := alice.page(t, "/dashboard"); strings.Contains(page, `href="/admin/users"`) {
		t.Errorf("a user's nav links the admin page")
	}
	if resp, _ := a.do(t, request("GET", "/admin/users", "")); resp.StatusCode != 401 {
		t.Errorf("anonymous: %d", resp.StatusCode)
	}
	// Basic credentials do not open the session-only admin page.
	if resp, _ := a.do(t, request("GET", "/admin/users", "", "Authorization", basicAuth("admin", "supersecret"))); resp.StatusCode != 401 {
		t.Errorf("Basic: %d", resp.StatusCode)
	}
}
