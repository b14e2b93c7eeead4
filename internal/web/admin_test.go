package web

import (
	"encoding/json"
	"html"
	"net/http"
	"slices"
	"strings"
	"testing"

	"fiberauth/internal/auth"
	"fiberauth/internal/store"
)

// The demo users' IDs, in the order they are seeded.
const (
	johnID  = "1"
	adminID = "2"
	aliceID = "3"
	bobID   = "4"
)

// adminRoutes are every admin route over one user: method and path (with %s for
// the ID) and the body a JSON client sends.
var adminRoutes = []struct{ method, path, body string }{
	{"GET", "/admin/users/%s", ""},
	{"POST", "/admin/users/%s/disable", ""},
	{"POST", "/admin/users/%s/enable", ""},
	{"PUT", "/admin/users/%s/role", `{"role":"admin"}`},
	{"POST", "/admin/users/%s/logout", ""},
	{"DELETE", "/admin/users/%s/second-factor", ""},
}

func adminRequest(method, path, body, id string, headers ...string) *http.Request {
	path = strings.Replace(path, "%s", id, 1)
	if body != "" {
		return jsonRequest(method, path, body, headers...)
	}
	return request(method, path, "", headers...)
}

// The errors of every admin route: 401 without a session, 403 for a user, 404 for
// an ID that is not a user's (in any spelling but its one), and 422 where an admin
// would lock themself out or leave no admin.
func TestAdminRouteErrors(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "10000"})
	admin := a.mustLogin(t, "admin", "supersecret")
	alice := a.mustLogin(t, "alice", "password123")
	// carol is an admin whose session still says so after she was demoted behind its
	// back (no EndAccess), so the last-admin rule, not the role check, must refuse her.
	carol, err := a.auth.CreateUser(t.Context(), "carol", "carol-password", store.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	carolSession := a.mustLogin(t, "carol", "carol-password")
	if _, _, err := a.store.SetRole(t.Context(), carol.ID, store.RoleUser); err != nil {
		t.Fatal(err)
	}

	type row struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string
	}
	var tests []row
	for _, r := range adminRoutes {
		route := r.method + " " + r.path
		tests = append(tests,
			row{route + ": anonymous is not authenticated", adminRequest(r.method, r.path, r.body, aliceID), 401, `"Not authenticated"`},
			row{route + ": a user is refused", withCookie(adminRequest(r.method, r.path, r.body, bobID), alice), 403, `"Admins only"`},
			row{route + ": Basic credentials do not open it", adminRequest(r.method, r.path, r.body, bobID, "Authorization", basicAuth("admin", "supersecret")), 401, `"Not authenticated"`},
		)
		for _, id := range []string{"999", "0", "-3", "+3", "03", "3.0", "0x3", "abc", "99999999999999999999", "%203"} {
			tests = append(tests, row{route + ": " + id + " is not found", withCookie(adminRequest(r.method, r.path, r.body, id), admin), 404, `"User not found"`})
		}
	}
	tests = append(tests,
		row{"an admin cannot disable themself", withCookie(adminRequest("POST", "/admin/users/%s/disable", "", adminID), admin), 422,
			`"You cannot disable your own account: another admin must do it"`},
		row{"an admin cannot demote themself", withCookie(adminRequest("PUT", "/admin/users/%s/role", `{"role":"user"}`, adminID), admin), 422,
			`"You cannot demote yourself: another admin must do it"`},
		row{"an admin cannot log themself out everywhere", withCookie(adminRequest("POST", "/admin/users/%s/logout", "", adminID), admin), 422,
			`"You cannot log yourself out everywhere from here`},
		row{"the last admin cannot be demoted", withCookie(adminRequest("PUT", "/admin/users/%s/role", `{"role":"user"}`, adminID), carolSession), 422,
			`"The last admin cannot be demoted: make another user an admin first"`},
		row{"the last admin cannot be disabled", withCookie(adminRequest("POST", "/admin/users/%s/disable", "", adminID), carolSession), 422,
			`"The last admin cannot be disabled: make another user an admin first"`},
		row{"a role that is neither user nor admin", withCookie(adminRequest("PUT", "/admin/users/%s/role", `{"role":"root"}`, bobID), admin), 422,
			`"details":[{"field":"role","message":"must be user or admin"}]`},
		row{"a role that is not a string", withCookie(adminRequest("PUT", "/admin/users/%s/role", `{"role":1}`, bobID), admin), 422,
			`"field":"role"`},
		row{"a role body that is not JSON", withCookie(adminRequest("PUT", "/admin/users/%s/role", `{"role":`, bobID), admin), 400,
			`"Malformed JSON body"`},
		row{"a role body of another type", withCookie(request("PUT", "/admin/users/"+bobID+"/role", `<role/>`, "Content-Type", "application/xml"), admin), 415,
			`"Content-Type must be application/json or a form"`},
		row{"a form without a CSRF token", withCookie(request("POST", "/admin/users/"+bobID+"/disable", "x=1", "Content-Type", "application/x-www-form-urlencoded"), admin), 403,
			`Missing or invalid CSRF token`},
		row{"JSON from another site", withCookie(adminRequest("POST", "/admin/users/%s/disable", "", bobID, "Origin", "https://evil.example"), admin), 403,
			`Missing or invalid CSRF token`},
	)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("%d %s, want %d with %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if strings.HasPrefix(body, "{") { // a form post gets the error page instead
				if e := envelope(t, body); e.StatusCode != tt.wantStatus {
					t.Errorf("envelope %+v", e)
				}
			}
		})
	}
	// Nothing above changed anyone.
	for _, name := range []string{"admin", "bob"} {
		u, err := a.auth.UserPrincipalByName(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		full, err := a.auth.AdminUser(t.Context(), u.UserID)
		if err != nil || full.DisabledAt != nil || (name == "admin") != (full.Role == store.RoleAdmin) {
			t.Errorf("%s after the refusals: %+v %v", name, full, err)
		}
	}
}

// Each admin route, as a JSON client calls it, answers with the user as they are
// now and does what it says, audited with the admin as actor.
func TestAdminRoutesWork(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		check                    func(t *testing.T, a *testApp, got adminUserJSON, aliceSession *http.Cookie)
		wantAudit                string // action, with detail "target=alice id=3..."
	}{
		{"an admin reads a user", "GET", "/admin/users/3", "", 200, func(t *testing.T, a *testApp, got adminUserJSON, _ *http.Cookie) {
			if got.Username != "alice" || got.Role != "user" || got.DisabledAt != nil || got.ActiveKeys != 1 || got.Sessions != 1 {
				t.Errorf("got %+v, want alice, user, enabled, 1 key, 1 session", got)
			}
		}, ""},
		{"disabling ends the user's sessions", "POST", "/admin/users/3/disable", "", 200, func(t *testing.T, a *testApp, got adminUserJSON, alice *http.Cookie) {
			if got.DisabledAt == nil || got.Sessions != 0 {
				t.Errorf("got %+v, want disabled_at set and no sessions", got)
			}
			if raw, err := a.shared.Get(alice.Value); err != nil || raw != nil {
				t.Errorf("alice's session is still in the storage (%v): void, but not freed", err)
			}
			if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), alice)); resp.StatusCode != 401 {
				t.Errorf("alice's session after the disable: %d", resp.StatusCode)
			}
		}, auth.ActionUserDisable},
		{"enabling an enabled user changes nothing", "POST", "/admin/users/3/enable", "", 200, func(t *testing.T, a *testApp, got adminUserJSON, alice *http.Cookie) {
			if got.DisabledAt != nil || got.Sessions != 1 {
				t.Errorf("got %+v", got)
			}
		}, auth.ActionUserEnable},
		{"a new role ends the user's sessions", "PUT", "/admin/users/3/role", `{"role":"admin"}`, 200, func(t *testing.T, a *testApp, got adminUserJSON, alice *http.Cookie) {
			if got.Role != "admin" || got.Sessions != 0 {
				t.Errorf("got %+v, want admin with no sessions", got)
			}
			if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), alice)); resp.StatusCode != 401 {
				t.Errorf("alice's session with the old role: %d", resp.StatusCode)
			}
			if resp, body := a.do(t, request("GET", "/basic/admin", "", "Authorization", basicAuth("alice", "password123"))); resp.StatusCode != 200 {
				t.Errorf("alice's Basic credential under the new role: %d %s", resp.StatusCode, body)
			}
		}, auth.ActionUserSetRole},
		{"logging out everywhere ends every session but not the password", "POST", "/admin/users/3/logout", "", 200, func(t *testing.T, a *testApp, got adminUserJSON, alice *http.Cookie) {
			if got.Sessions != 0 {
				t.Errorf("got %+v", got)
			}
			if raw, err := a.shared.Get(alice.Value); err != nil || raw != nil {
				t.Errorf("alice's session is still in the storage (%v): void, but not freed", err)
			}
			if resp, _ := a.do(t, withCookie(request("GET", "/dashboard", ""), alice)); resp.StatusCode != 401 {
				t.Errorf("alice's session after logout everywhere: %d", resp.StatusCode)
			}
			if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123"))); resp.StatusCode != 200 {
				t.Errorf("alice's password after logout everywhere: %d", resp.StatusCode)
			}
		}, auth.ActionUserLogout},
		{"resetting the second factor answers 204", "DELETE", "/admin/users/3/second-factor", "", 204, nil, auth.ActionUserResetSecondFactor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, nil)
			admin := a.mustLogin(t, "admin", "supersecret")
			alice := a.mustLogin(t, "alice", "password123")
			resp, body := a.do(t, withCookie(adminRequest(tt.method, tt.path, tt.body, ""), admin))
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if tt.check != nil {
				var fields map[string]any
				if err := json.Unmarshal([]byte(body), &fields); err != nil {
					t.Fatalf("%v: %s", err, body)
				}
				want := []string{"active_keys", "created_at", "disabled_at", "email", "email_verified_at", "id", "last_login_at", "role",
					"second_factor", "sessions", "username"}
				if got := jsonFields(fields); !slices.Equal(got, want) {
					t.Errorf("fields %v, want %v", got, want)
				}
				// The demo users have verified addresses (issue 13).
				if fields["email"] != "alice@example.com" || fields["email_verified_at"] == nil || fields["second_factor"] != nil {
					t.Errorf("email %v verified %v, second_factor %v: want alice@example.com, a time, and null until it exists",
						fields["email"], fields["email_verified_at"], fields["second_factor"])
				}
				var got adminUserJSON
				_ = json.Unmarshal([]byte(body), &got)
				tt.check(t, a, got, alice)
			}
			if tt.wantAudit == "" {
				return
			}
			events, err := a.auth.RecentAudit(t.Context(), "admin", 5)
			if err != nil {
				t.Fatal(err)
			}
			if len(events) == 0 || events[0].Action != tt.wantAudit || events[0].Outcome != "success" ||
				!strings.HasPrefix(events[0].Detail, "target=alice id=3") || events[0].ClientIP == "" {
				t.Errorf("newest audit event of admin %+v, want %s with target=alice id=3", events, tt.wantAudit)
			}
		})
	}
}

type adminUserJSON struct {
	ID         int64   `json:"id"`
	Username   string  `json:"username"`
	Role       string  `json:"role"`
	DisabledAt *string `json:"disabled_at"`
	ActiveKeys int     `json:"active_keys"`
	Sessions   int     `json:"sessions"`
}

// A disabled user is refused by every method, through every cache: 403 Account
// disabled after a right credential, the ordinary 401 after a wrong one (which
// counts as a failed login; the right ones do not). Enabling lets them in at once.
func TestDisabledUserIsRefusedByEveryMethod(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "3", "RATE_LIMIT_MAX": "10000"})
	admin := a.mustLogin(t, "admin", "supersecret")
	alice := a.client()
	alice.login(t, "alice", "password123")
	aliceJSON := a.mustLogin(t, "alice", "password123")
	// Used, and so cached, just before the disable.
	for range 2 {
		for _, req := range []*http.Request{
			request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123")),
			request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456"),
		} {
			if resp, body := a.do(t, req); resp.StatusCode != 200 {
				t.Fatalf("%s before the disable: %d %s", req.URL, resp.StatusCode, body)
			}
		}
	}
	if !a.auth.RecentlyVerified("alice", "password123") {
		t.Fatal("alice's Basic credential is not cached")
	}
	if resp, body := a.do(t, withCookie(request("POST", "/admin/users/"+aliceID+"/disable", ""), admin)); resp.StatusCode != 200 {
		t.Fatalf("disable: %d %s", resp.StatusCode, body)
	}

	disabled := `{"error":{"message":"Account disabled","type":"authorization_error","status_code":403}}`
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantBody   string
	}{
		{"the cached Basic credential", request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123")), 403, disabled},
		{"Basic on /whoami", request("GET", "/whoami", "", "Authorization", basicAuth("alice", "password123")), 403, disabled},
		{"a wrong Basic password", request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "wrong-password")), 401, `"Invalid credentials"`},
		{"the cached key as Bearer", request("GET", "/apikey/data", "", "Authorization", "Bearer sk_live_456"), 403, disabled},
		{"the cached key as X-API-Key", request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456"), 403, disabled},
		{"the key on /whoami", request("GET", "/whoami", "", "X-API-Key", "sk_live_456"), 403, disabled},
		{"the session", withCookie(request("GET", "/dashboard", ""), aliceJSON), 401, `"Not authenticated"`},
		{"a JSON login", jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), 403, disabled},
		{"a JSON login with a wrong password", jsonRequest("POST", "/login", `{"username":"alice","password":"wrong-password"}`), 401, `"Invalid credentials"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Errorf("%d %s, want %d %s", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			// A challenge asks for another credential, which cannot help a disabled account.
			if challenge := resp.Header.Get("WWW-Authenticate"); (challenge != "") != (tt.wantStatus == 401 && tt.req.Header.Get("Authorization") != "") {
				t.Errorf("WWW-Authenticate %q on a %d", challenge, resp.StatusCode)
			}
		})
	}

	t.Run("the browser's session is sent to log in, and the login form says why", func(t *testing.T) {
		resp, _ := alice.page(t, "/dashboard")
		if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("dashboard: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		token := alice.token(t, "/login")
		resp, body := alice.form(t, "/login", urlValues("username", "alice", "password", "password123", csrfFormField, token))
		if resp.StatusCode != 403 {
			t.Fatalf("login form: %d", resp.StatusCode)
		}
		mustContain(t, body, `id="login-form"`, "Account disabled")
	})

	t.Run("the refused login is audited as such", func(t *testing.T) {
		events, err := a.auth.RecentAudit(t.Context(), "alice", 20)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(events, func(e store.AuditEvent) bool {
			return e.Action == "login" && e.Outcome == "failure" && e.Detail == "account disabled"
		}) {
			t.Errorf("no refused login among %+v", events)
		}
	})

	t.Run("enabling lets every method in at once", func(t *testing.T) {
		if resp, body := a.do(t, withCookie(request("POST", "/admin/users/"+aliceID+"/enable", ""), admin)); resp.StatusCode != 200 {
			t.Fatalf("enable: %d %s", resp.StatusCode, body)
		}
		for _, req := range []*http.Request{
			request("GET", "/basic/profile", "", "Authorization", basicAuth("alice", "password123")),
			request("GET", "/apikey/data", "", "X-API-Key", "sk_live_456"),
			request("GET", "/whoami", "", "Authorization", "Bearer sk_live_456"),
			jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`),
		} {
			if resp, body := a.do(t, req); resp.StatusCode != 200 {
				t.Errorf("%s after enabling: %d %s", req.URL, resp.StatusCode, body)
			}
		}
	})
	t.Run("right passwords do not count as failed logins, wrong ones do", func(t *testing.T) {
		// bob, whose failures start from none.
		if resp, body := a.do(t, withCookie(request("POST", "/admin/users/"+bobID+"/disable", ""), admin)); resp.StatusCode != 200 {
			t.Fatalf("disable bob: %d %s", resp.StatusCode, body)
		}
		for i := range 10 {
			if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("bob", "securepass"))); resp.StatusCode != 403 {
				t.Fatalf("right password %d: %d, want 403", i+1, resp.StatusCode)
			}
		}
		for i := range 3 { // LOGIN_MAX_FAILURES
			if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("bob", "wrong-password"))); resp.StatusCode != 401 {
				t.Fatalf("wrong password %d: %d, want 401", i+1, resp.StatusCode)
			}
		}
		if resp, _ := a.do(t, request("GET", "/basic/profile", "", "Authorization", basicAuth("bob", "wrong-password"))); resp.StatusCode != 429 {
			t.Errorf("one wrong password more: %d, want 429", resp.StatusCode)
		}
	})
}

// The admin's page of a user works as a plain page with forms (no JavaScript: each
// action a POST answered 303 back to the page, with a flash) and with htmx (the
// user's card swapped in place, the message in the status region).
func TestAdminUserPage(t *testing.T) {
	a := newTestApp(t, nil)
	admin := a.client()
	admin.login(t, "admin", "supersecret")

	t.Run("the users list links each user's page", func(t *testing.T) {
		_, page := admin.page(t, "/admin/users")
		mustContain(t, page, `<a href="/admin/users/3">alice</a>`, `<a href="/admin/users/2">admin</a>`)
	})

	t.Run("a user's page shows the account and the actions, with no inline code", func(t *testing.T) {
		resp, page := admin.page(t, "/admin/users/3")
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, page, "<h1>alice</h1>", `aria-current="page"`, "Active API keys", "Live sessions",
			`action="/admin/users/3/disable"`, `hx-confirm="Disable alice?`, `action="/admin/users/3/role"`, `hx-put="/admin/users/3/role"`,
			`action="/admin/users/3/logout"`, `action="/admin/users/3/second-factor/reset"`, `hx-delete="/admin/users/3/second-factor"`,
			`name="`+csrfFormField+`" value="`)
		mustNotContain(t, page, "hx-swap-oob", "Enable account")
		if m := inlineCode.FindString(page); m != "" {
			t.Errorf("inline code %q", m)
		}
	})

	t.Run("an admin's own page offers no way to lock themself out", func(t *testing.T) {
		_, page := admin.page(t, "/admin/users/2")
		mustContain(t, page, "This is your own account", `action="/admin/users/2/second-factor/reset"`)
		mustNotContain(t, page, `action="/admin/users/2/disable"`, `action="/admin/users/2/role"`, `action="/admin/users/2/logout"`)
	})

	t.Run("without JavaScript, disabling posts, redirects back and says what it did", func(t *testing.T) {
		token := admin.token(t, "/admin/users/3")
		resp, _ := admin.form(t, "/admin/users/3/disable", urlValues(csrfFormField, token))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/3" {
			t.Fatalf("%d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, page := admin.page(t, "/admin/users/3")
		mustContain(t, page, html.EscapeString(flashMessages["user-disabled"]), `badge-revoked">disabled</span> since`, "Enable account")
		_, list := admin.page(t, "/admin/users")
		mustContain(t, list, `<a href="/admin/users/3">alice</a> <span class="badge badge-revoked">disabled</span>`)
	})

	t.Run("without JavaScript, the role form and the second-factor form post too", func(t *testing.T) {
		token := admin.token(t, "/admin/users/4")
		resp, _ := admin.form(t, "/admin/users/4/role", urlValues("role", "admin", csrfFormField, token))
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/users/4" {
			t.Fatalf("role: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		_, page := admin.page(t, "/admin/users/4")
		mustContain(t, page, html.EscapeString(flashMessages["user-role-changed"]), `<option value="admin" selected>`)
		resp, _ = admin.form(t, "/admin/users/4/second-factor/reset", urlValues(csrfFormField, token))
		if resp.StatusCode != 303 {
			t.Fatalf("second factor: %d", resp.StatusCode)
		}
		_, page = admin.page(t, "/admin/users/4")
		mustContain(t, page, html.EscapeString(flashMessages["user-second-factor-reset"]))
	})

	t.Run("with htmx, enabling swaps the card and puts the message in the status region", func(t *testing.T) {
		token := admin.token(t, "/admin/users/3")
		resp, frag := admin.htmx(t, "POST", "/admin/users/3/enable", nil, token)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, frag)
		}
		mustContain(t, frag, `<div id="status" hx-swap-oob="innerHTML"><p class="flash">`+html.EscapeString(flashMessages["user-enabled"]),
			`<div id="admin-user"`, `badge-active">active</span>`, "Disable account")
		mustNotContain(t, frag, "<html", "<h1>")
		if m := inlineCode.FindString(frag); m != "" {
			t.Errorf("inline code %q", m)
		}
	})

	t.Run("with htmx, the role form PUTs and the reset DELETEs", func(t *testing.T) {
		token := admin.token(t, "/admin/users/4")
		resp, frag := admin.htmx(t, "PUT", "/admin/users/4/role", urlValues("role", "user"), token)
		if resp.StatusCode != 200 {
			t.Fatalf("role: %d %s", resp.StatusCode, frag)
		}
		mustContain(t, frag, `<option value="user" selected>`, html.EscapeString(flashMessages["user-role-changed"]))
		resp, frag = admin.htmx(t, "DELETE", "/admin/users/4/second-factor", nil, token)
		if resp.StatusCode != 200 {
			t.Fatalf("reset: %d %s", resp.StatusCode, frag)
		}
		mustContain(t, frag, html.EscapeString(flashMessages["user-second-factor-reset"]), `<div id="admin-user"`)
	})

	t.Run("with htmx, a refusal is shown in the status region", func(t *testing.T) {
		token := admin.token(t, "/admin/users/2")
		resp, frag := admin.htmx(t, "POST", "/admin/users/2/logout", nil, token)
		if resp.StatusCode != 422 || resp.Header.Get("HX-Retarget") != "#status" {
			t.Fatalf("%d, HX-Retarget %q", resp.StatusCode, resp.Header.Get("HX-Retarget"))
		}
		mustContain(t, frag, `role="alert"`, "You cannot log yourself out everywhere from here")
	})

	t.Run("an unknown user's page is a 404 page, a user's visit a 403 page", func(t *testing.T) {
		resp, page := admin.page(t, "/admin/users/999")
		if resp.StatusCode != 404 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, page, "<html", "Page not found")
		alice := a.client()
		alice.login(t, "john", "secret123")
		resp, page = alice.page(t, "/admin/users/3")
		if resp.StatusCode != 403 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, page, "<html", "Admins only")
	})
}
