package web

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserSessions: a user sees where they are logged in and ends a session; the
// browser that held it is logged out on its next page, with JavaScript (htmx and
// hx-confirm) and without (a plain form).
func TestBrowserSessions(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	base := a.serve(t)
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)

	for _, tc := range []struct {
		name       string
		noJS       bool
		user, pass string
	}{
		{"with JavaScript", false, "bob", "securepass"},
		{"without JavaScript", true, "john", "secret123"},
	} {
		noJS := tc.noJS
		t.Run(tc.name, func(t *testing.T) {
			other := newTab(t, browser, false) // a second browser: its own cookies
			formLogin(t, other, base, tc.user, tc.pass)
			me := newTab(t, browser, noJS)
			formLogin(t, me, base, tc.user, tc.pass)

			run(t, me, chromedp.Click(chromedp.CSS(`a[href="/account/sessions"]`)), chromedp.WaitVisible(chromedp.CSS("#sessions")))
			// Badges are upper-cased by CSS, and text is what is shown.
			mustContain(t, strings.ToLower(text(t, me, "#sessions")), "2 active sessions", "this browser", "sign out all other sessions")
			if !noJS {
				screenshot(t, me, filepath.Join(shots, "sessions.png"))
			}
			row := eval[string](t, me, `[...document.querySelectorAll('#sessions tbody tr')].find(r => !r.textContent.includes('this browser')).id`)
			if noJS {
				run(t, me, chromedp.Click(chromedp.CSS("#"+row+" button")), chromedp.WaitVisible(chromedp.CSS(".flash")))
				mustContain(t, text(t, me, "main"), "That session has been signed out.")
			} else {
				dialogs := acceptDialogs(t, me)
				run(t, me, markPage())
				mustContain(t, clickAndConfirm(t, me, dialogs, "#"+row+" button"), "It stops working at once.")
				run(t, me, chromedp.Poll[chromedp.Void](`document.querySelector('#sessions h2').textContent.includes('1 active session')`,
					chromedp.WithPollingTimeout(10*time.Second)))
				assertSamePage(t, me)
			}
			mustContain(t, text(t, me, "#sessions"), "1 active session")

			// The other browser's very next page: it is no longer logged in.
			run(t, other, chromedp.Navigate(base+"/dashboard"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
			mustContain(t, text(t, other, "header"), "Not logged in")
		})
	}
}

// formLogin logs a tab in through the login form, with or without JavaScript.
func formLogin(t *testing.T, tab context.Context, base, user, pass string) {
	t.Helper()
	run(t, tab, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#login-username"), user),
		chromedp.SendKeys(chromedp.CSS("#login-password"), pass),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#keys")))
}
