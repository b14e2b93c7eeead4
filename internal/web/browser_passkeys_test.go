package web

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// TestBrowserPasskeys: in real Chromium with a CDP virtual authenticator (CTAP2,
// internal transport, resident keys, user verification), a user adds a passkey on
// the account page, logs out, logs in with no username, sees the method, and
// removes the passkey. WebAuthn needs a real RP ID, so the test serves on 127.0.0.1
// and browses http://localhost:PORT, which PUBLIC_URL names.
func TestBrowserPasskeys(t *testing.T) {
	chromium := requireChromium(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	a := newTestApp(t, map[string]string{"PUBLIC_URL": base})
	go func() { _ = a.app.Listener(ln) }()
	t.Cleanup(func() { _ = a.app.Shutdown() })

	browser := startBrowser(t, chromium)
	tab := newTab(t, browser, false)
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{Protocol: webauthn.AuthenticatorProtocolCtap2,
			Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
			IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}

	formLogin(t, tab, base, "alice", "password123")
	run(t, tab, chromedp.Navigate(base+"/account"), waitForHTMX(), chromedp.WaitVisible(chromedp.CSS("#passkey-form")),
		chromedp.SendKeys(chromedp.CSS("#passkey-name"), "Test laptop"),
		chromedp.Click(chromedp.CSS("#passkey-form button[type=submit]")))
	run(t, tab, chromedp.Poll[chromedp.Void](`document.querySelector('#passkeys table') !== null &&
			document.querySelector('#passkeys').textContent.includes('Test laptop')`, chromedp.WithPollingTimeout(15*time.Second)))
	mustContain(t, text(t, tab, "#status"), "added")

	logOut(t, tab)
	run(t, tab, waitForHTMX(), chromedp.WaitVisible(chromedp.CSS("#passkey-login-button")),
		clickFromScript("#passkey-login-button"))
	waitAcrossNavigation(t, tab, "#keys")
	if loc := location(t, tab); loc != base+"/dashboard" {
		t.Fatalf("after the passkey login: at %s", loc)
	}
	mustContain(t, text(t, tab, "main"), "after a passkey login")

	run(t, tab, chromedp.Navigate(base+"/whoami"))
	if body := text(t, tab, "body"); !strings.Contains(body, `"method":"passkey"`) || !strings.Contains(body, `"username":"alice"`) {
		t.Fatalf("/whoami after a passkey login: %s", body)
	}
	run(t, tab, chromedp.Navigate(base+"/account/sessions"), chromedp.WaitVisible(chromedp.CSS("#sessions")))
	mustContain(t, text(t, tab, "#sessions"), "with passkey")

	dialogs := acceptDialogs(t, tab)
	run(t, tab, chromedp.Navigate(base+"/account"), waitForHTMX(), chromedp.WaitVisible(chromedp.CSS("#passkeys table")),
		markPage())
	mustContain(t, clickAndConfirm(t, tab, dialogs, "#passkeys tbody tr button"), "Test laptop")
	run(t, tab, chromedp.Poll[chromedp.Void](`document.querySelector('#passkeys').textContent.includes('You have no passkey yet.')`,
		chromedp.WithPollingTimeout(10*time.Second)))
	assertSamePage(t, tab)
	// The passkey is gone on the server: logging in with it is refused now.
	logOut(t, tab)
	run(t, tab, waitForHTMX(), chromedp.Click(chromedp.CSS("#passkey-login-button")),
		chromedp.Poll[chromedp.Void](`!document.querySelector('#passkey-login-error').hidden`, chromedp.WithPollingTimeout(15*time.Second)))
	if loc := location(t, tab); !strings.HasSuffix(loc, "/login") {
		t.Errorf("a removed passkey logged in: at %s", loc)
	}
}

// logOut clicks the nav's log-out button and waits for the login page. The click is
// queued from script: the page navigates away under it (HX-Redirect).
func logOut(t *testing.T, tab context.Context) {
	t.Helper()
	run(t, tab, clickFromScript(`form[action="/logout"] button`))
	waitAcrossNavigation(t, tab, "#login-form")
}

// waitAcrossNavigation waits until css is visible, through the navigation under
// way (a wait started on the old page fails when it goes).
func waitAcrossNavigation(t *testing.T, tab context.Context, css string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(tab, 2*time.Second)
		_, err := chromedp.Run(ctx, chromedp.WaitVisible(chromedp.CSS(css)))
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatalf("%s never showed (at %s)", css, location(t, tab))
}
