package web

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestBrowserPasswordReset: in development, a user who forgot their password asks
// for a link from the login page, finds the mail in /dev/mailbox, follows its link,
// sets a new password and logs in with it (JavaScript on: htmx forms).
func TestBrowserPasswordReset(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	base := a.serve(t)
	tab := newTab(t, startBrowser(t, chromium), false)

	run(t, tab, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.Click(chromedp.CSS(`a[href="/password/forgot"]`)), chromedp.WaitVisible(chromedp.CSS("#forgot-form")),
		chromedp.SendKeys(chromedp.CSS("#forgot-login"), "alice@example.com"),
		chromedp.Click(chromedp.CSS("#forgot-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#forgot-form .flash")))
	mustContain(t, text(t, tab, "#forgot-form"), "If an account matches, a reset link is on its way.")
	a.processResets(t) // the worker's job, done now rather than waited for

	run(t, tab, chromedp.Click(chromedp.CSS(`a[href="/dev/mailbox"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href*="/password/reset?token="]`)))
	mustContain(t, text(t, tab, "main"), "Reset your fiberauth password", "alice@example.com")
	link := eval[string](t, tab, `document.querySelector('a[href*="/password/reset?token="]').getAttribute('href')`)
	// The mail's links name PUBLIC_URL; the test server listens elsewhere.
	run(t, tab, chromedp.Navigate(base+link[len(a.cfg.PublicURL):]), chromedp.WaitVisible(chromedp.CSS("#reset-form")),
		chromedp.SendKeys(chromedp.CSS("#reset-new"), "reset-in-a-browser"),
		chromedp.SendKeys(chromedp.CSS("#reset-confirm"), "reset-in-a-browser"),
		chromedp.Click(chromedp.CSS("#reset-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#login-form")), chromedp.WaitVisible(chromedp.CSS("#status .flash")))
	mustContain(t, text(t, tab, "#status"), "Your password has been reset")

	formLogin(t, tab, base, "alice", "reset-in-a-browser")
}
