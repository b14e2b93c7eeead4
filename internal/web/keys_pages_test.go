package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var secretPattern = regexp.MustCompile(`sk_live_[A-Z2-7]{20,}`)

// TestKeyCreatedByAPlainForm checks Post/Redirect/Get for a browser without
// JavaScript: the post redirects to the dashboard, which shows the secret exactly
// once, without it ever being in an address or a cookie.
func TestKeyCreatedByAPlainForm(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	token := alice.token(t, "/dashboard")
	create := func(name string) (*http.Response, string) {
		t.Helper()
		return alice.form(t, "/keys", urlValues("name", name, "permissions", "read", csrfFormField, token))
	}

	resp, body := create("plain")
	var ticket, secret string
	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"the post answers 303 to the dashboard, with no secret in the answer or the address", func(t *testing.T) {
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard#new-key" {
				t.Fatalf("%d to %q, want 303 to /dashboard#new-key", resp.StatusCode, resp.Header.Get("Location"))
			}
			mustNotContain(t, body+resp.Header.Get("Location"), "sk_live_")
			c := cookie(resp, newKeyCookie)
			if c == nil || !c.HttpOnly || c.Path != "/dashboard" || c.MaxAge <= 0 || c.MaxAge > 60 || strings.Contains(c.Value, "sk_") {
				t.Fatalf("handoff cookie %+v: want HttpOnly, Path /dashboard, at most a minute, no secret", c)
			}
			ticket = c.Value
		}},
		{"the dashboard it leads to shows the secret, which works", func(t *testing.T) {
			resp, page := alice.page(t, "/dashboard")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d", resp.StatusCode)
			}
			mustContain(t, page, "Key “plain” created", "only time it is shown")
			if secret = secretPattern.FindString(page); secret == "" {
				t.Fatalf("no secret on the dashboard:\n%s", page)
			}
			if c := alice.jar[newKeyCookie]; c != nil {
				t.Errorf("the handoff cookie was not cleared: %+v", c)
			}
			if resp, body := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer "+secret)); resp.StatusCode != 200 {
				t.Errorf("the secret shown does not work: %d %s", resp.StatusCode, body)
			}
		}},
		{"a reload does not show it again", func(t *testing.T) {
			_, page := alice.page(t, "/dashboard")
			mustNotContain(t, page, secret, "Key “plain” created")
		}},
		{"the ticket sent again shows nothing, and says so", func(t *testing.T) {
			alice.setCookie(newKeyCookie, ticket)
			_, page := alice.page(t, "/dashboard")
			mustNotContain(t, page, secret, "Key “plain” created")
			mustContain(t, page, "can no longer be shown")
		}},
		{"another user's dashboard cannot take the handoff, and its owner still can", func(t *testing.T) {
			resp, _ := create("second")
			c := cookie(resp, newKeyCookie)
			if c == nil {
				t.Fatal("no handoff cookie")
			}
			bob := a.client()
			bob.login(t, "bob", "securepass")
			bob.setCookie(newKeyCookie, c.Value)
			_, page := bob.page(t, "/dashboard")
			mustNotContain(t, page, "Key “second” created")
			mustContain(t, page, "can no longer be shown")
			_, page = alice.page(t, "/dashboard")
			mustContain(t, page, "Key “second” created")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return // each step builds on the one before
		}
	}
}

// TestKeyAnswersUpdateThePage checks what htmx swaps in beside the key form or row:
// the recent activity after a create or a revoke, and the removal of a secret
// still on the page when its key is revoked.
func TestKeyAnswersUpdateThePage(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	token := alice.token(t, "/dashboard")

	resp, created := alice.htmx(t, "POST", "/keys", urlValues("name", "fresh", "permissions", "read"), token)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, created)
	}
	id := strconv.FormatInt(keyIDByName(t, a, "alice"), 10)
	const dropSecret = `<div id="new-key" hx-swap-oob="delete">`

	t.Run("creating a key sends the activity along, with the creation in it", func(t *testing.T) {
		mustContain(t, activityOOB(t, created), "key.create", "key "+id+" ")
	})
	t.Run("the page that shows the secret names its key to the revoke buttons", func(t *testing.T) {
		mustContain(t, created, `<tbody id="key-rows" hx-vals='{"shown_key": "`+id+`"}'>`, `hx-params="shown_key"`)
	})

	tests := []struct {
		name      string
		shown     string // the shown_key the page sends
		revoke    string // the key revoked; "" for the one created above
		wantDrop  bool
		wantEvent string
	}{
		{"revoking another key keeps the secret on the page", "{id}", "other", false, "key.revoke"},
		{"revoking with no secret on the page removes none", "", "other", false, "key.revoke"},
		{"revoking the key whose secret is shown removes the secret", "{id}", "", true, "key.revoke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := id
			if tt.revoke == "other" {
				k, err := a.auth.CreateAPIKey(t.Context(), mustUserID(t, a, "alice"), "other", []string{"read"}, 0)
				if err != nil {
					t.Fatal(err)
				}
				target = strconv.FormatInt(k.ID, 10)
			}
			path := "/keys/" + target
			if tt.shown != "" {
				path += "?shown_key=" + strings.ReplaceAll(tt.shown, "{id}", id)
			}
			resp, body := alice.htmx(t, "DELETE", path, nil, token)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			mustContain(t, body, `<tr id="key-`+target+`"`)
			if got := strings.Contains(body, dropSecret); got != tt.wantDrop {
				t.Errorf("the answer removes the secret: %v, want %v\n%s", got, tt.wantDrop, body)
			}
			mustContain(t, activityOOB(t, body), tt.wantEvent)
		})
	}
}

// activityOOB returns the recent-activity section an htmx answer sends for an
// out-of-band swap, failing the test when there is none.
func activityOOB(t *testing.T, body string) string {
	t.Helper()
	start := strings.Index(body, `<section id="activity" class="card" aria-labelledby="activity-title" hx-swap-oob="true">`)
	if start < 0 {
		t.Fatalf("no out-of-band activity section in:\n%s", body)
	}
	end := strings.Index(body[start:], "</section>")
	if end < 0 {
		t.Fatalf("the activity section does not end:\n%s", body[start:])
	}
	return body[start : start+end]
}

func mustUserID(t *testing.T, a *testApp, username string) int64 {
	t.Helper()
	p, err := a.auth.UserPrincipalByName(t.Context(), username)
	if err != nil {
		t.Fatal(err)
	}
	return p.UserID
}
