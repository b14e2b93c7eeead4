package web

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserTOTP: with JavaScript, a user turns TOTP on from the account page
// (the code computed from the key the page shows), saves the recovery codes, and
// logs in again in two steps, asking to be remembered; the pages of each step fit a
// phone and pass axe.
func TestBrowserTOTP(t *testing.T) {
	chromium := requireChromium(t)
	axe, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, nil)
	base := a.serve(t)
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range strings.Split(a.logs.String(), "\n") {
				if strings.Contains(l, `"path"`) {
					t.Log(l)
				}
			}
		}
	})
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)

	me := newTab(t, browser, false)
	run(t, me, chromedp.EmulateViewport(phoneWidth, phoneHeight))
	formLogin(t, me, base, "bob", "securepass")
	run(t, me, chromedp.Navigate(base+"/account"), waitForHTMX(),
		chromedp.Click(chromedp.CSS("#totp-start-form button")),
		chromedp.WaitVisible(chromedp.CSS("#totp-secret")))
	assertFitsViewport(t, me)
	assertNoSeriousAxeViolation(t, me, string(axe))
	if !eval[bool](t, me, `document.querySelector('#totp-card img').src.startsWith('data:image/png;base64,')`) {
		t.Error("no QR code image")
	}
	secret := strings.ReplaceAll(text(t, me, "#totp-secret"), " ", "")
	run(t, me, chromedp.SendKeys(chromedp.CSS("#totp-code"), a.totpCode(t, secret)),
		chromedp.Click(chromedp.CSS("#totp-confirm-form button")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	a.nextStep()
	codes := eval[int](t, me, `document.querySelectorAll('#recovery-codes li code').length`)
	if codes != 10 {
		t.Fatalf("%d recovery codes shown", codes)
	}
	if !eval[bool](t, me, `document.querySelector('#recovery-codes a[download]').href.startsWith('data:text/plain')`) {
		t.Error("no download link")
	}
	assertFitsViewport(t, me)
	assertNoSeriousAxeViolation(t, me, string(axe))
	screenshot(t, me, filepath.Join(shots, "totp-recovery-codes.png"))
	run(t, me, chromedp.Click(chromedp.CSS(`#recovery-codes a.button[href="/account"]`)),
		chromedp.WaitVisible(chromedp.CSS("#recovery-form")))

	// Another browser logs in: the password, then the code page.
	other := newTab(t, browser, false)
	run(t, other, chromedp.EmulateViewport(phoneWidth, phoneHeight))
	run(t, other, chromedp.Navigate(base+"/login"), waitForHTMX(),
		chromedp.SendKeys(chromedp.CSS("#login-username"), "bob"),
		chromedp.SendKeys(chromedp.CSS("#login-password"), "securepass"),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#verify-code")))
	if loc := location(t, other); !strings.HasSuffix(loc, "/login/verify") {
		t.Fatalf("after the password: %s", loc)
	}
	assertFitsViewport(t, other)
	assertNoSeriousAxeViolation(t, other, string(axe))
	run(t, other, chromedp.SendKeys(chromedp.CSS("#verify-code"), "000000"),
		chromedp.Click(chromedp.CSS("#verify-form form button")),
		chromedp.WaitVisible(chromedp.CSS("#verify-error")))
	mustContain(t, text(t, other, "#verify-error"), "Invalid code")
	eval[bool](t, other, `(document.querySelector('#verify-code').value = '') === ''`)
	run(t, other, chromedp.SendKeys(chromedp.CSS("#verify-code"), a.totpCode(t, secret)),
		chromedp.Click(chromedp.CSS(`#verify-form form input[name="remember"]`)),
		chromedp.Click(chromedp.CSS("#verify-form form button")),
		chromedp.WaitVisible(chromedp.CSS("#keys")))
	mustContain(t, text(t, other, "header"), "Logged in as bob")

	// The remembered browser is on the sessions page.
	run(t, other, chromedp.Navigate(base+"/account/sessions"), chromedp.WaitVisible(chromedp.CSS("#sessions")),
		chromedp.Poll[chromedp.Void](`document.querySelector('#sessions').textContent.toLowerCase().includes('remembered')`,
			chromedp.WithPollingTimeout(5*time.Second)))
}
