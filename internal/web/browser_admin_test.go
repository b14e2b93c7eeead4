package web

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminDisablesAUser drives two browser contexts in headless Chromium:
// alice is logged in in one; an admin, in the other, opens her page from the users
// list and disables her (htmx, after a confirmation). Alice's next page load is
// sent to the login page, and logging in again says why it cannot.
func TestBrowserAdminDisablesAUser(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	base := a.serve(t)
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)
	alice := newTab(t, browser, false)
	admin := newTab(t, browser, false)

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"alice logs in in her browser", func(t *testing.T) {
			run(t, alice, chromedp.Navigate(base+"/login"), waitForHTMX(),
				chromedp.SetValue(chromedp.CSS("#login-username"), "alice"),
				chromedp.SetValue(chromedp.CSS("#login-password"), "password123"),
				chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("#keys")),
			)
			mustContain(t, text(t, alice, "header"), "Logged in as alice")
		}},
		{"the admin finds her in the users list", func(t *testing.T) {
			run(t, admin, chromedp.Navigate(base+"/login"), waitForHTMX(),
				chromedp.SetValue(chromedp.CSS("#login-username"), "admin"),
				chromedp.SetValue(chromedp.CSS("#login-password"), "supersecret"),
				chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("#keys")),
				chromedp.Navigate(base+"/admin/users"), waitForHTMX(),
				chromedp.Click(chromedp.CSS(`a[href="/admin/users/3"]`)),
				chromedp.WaitVisible(chromedp.CSS("#admin-user")), waitForHTMX(),
			)
			if loc := location(t, admin); loc != base+"/admin/users/3" {
				t.Errorf("at %s", loc)
			}
			mustContain(t, text(t, admin, "#admin-user"), "Live sessions\n1", "Status\nActive")
		}},
		{"disabling asks first, then shows her disabled in place", func(t *testing.T) {
			dialogs := acceptDialogs(t, admin)
			run(t, admin, markPage())
			mustContain(t, clickAndConfirm(t, admin, dialogs, `form[action="/admin/users/3/disable"] button`), "Disable alice?")
			run(t, admin, chromedp.Poll[chromedp.Void](`!!document.querySelector('#admin-user .badge-revoked')`,
				chromedp.WithPollingTimeout(10*time.Second)))
			assertSamePage(t, admin)
			mustContain(t, text(t, admin, "#status"), "The account is disabled")
			mustContain(t, text(t, admin, "#admin-user"), "Status\nDisabled since", "Live sessions\n0", "Enable account")
			screenshot(t, admin, filepath.Join(shots, "admin-user-disabled.png"))
		}},
		{"alice's next page load is sent to the login page", func(t *testing.T) {
			run(t, alice, chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			if loc := location(t, alice); !strings.HasPrefix(loc, base+"/login") {
				t.Errorf("at %s", loc)
			}
			body := text(t, alice, "body")
			mustNotContain(t, body, "Hello, alice", "Logged in as")
		}},
		{"logging in again says the account is disabled", func(t *testing.T) {
			run(t, alice, waitForHTMX(),
				chromedp.SetValue(chromedp.CSS("#login-username"), "alice"),
				chromedp.SetValue(chromedp.CSS("#login-password"), "password123"),
				chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("#login-error")),
			)
			mustContain(t, text(t, alice, "#login-error"), "Account disabled")
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			return // each step builds on the one before
		}
	}
}
