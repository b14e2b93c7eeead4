package web

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowser drives the real app in headless Chromium, with JavaScript (htmx) and
// without, and saves screenshots to tmp/screenshots. It asserts what only htmx does
// (an error swapped in without leaving the page), so a broken htmx path cannot hide
// behind the plain form post.
func TestBrowser(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	base := a.serve(t)
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)

	t.Run("the home page explains the three methods", func(t *testing.T) {
		tab := newTab(t, browser, false)
		run(t, tab, chromedp.Navigate(base+"/"), waitForHTMX())
		// Text is what is shown, so CSS upper-casing shows too.
		mustContain(t, text(t, tab, "main"), "HTTP Basic", "API keys", "Session cookie", "USE IT FOR", "TRY IT", "Copy command")
		screenshot(t, tab, filepath.Join(shots, "home.png"))
	})

	t.Run("with JavaScript", func(t *testing.T) {
		tab := newTab(t, browser, false)
		var secret, keyRow string

		steps := []struct {
			name string
			fn   func(t *testing.T)
		}{
			{"a failed login shows the error in the form, without leaving the page", func(t *testing.T) {
				run(t, tab, chromedp.Navigate(base+"/login"), waitForHTMX())
				screenshot(t, tab, filepath.Join(shots, "login.png"))
				run(t, tab,
					chromedp.SetValue(chromedp.CSS("#login-username"), "alice"),
					chromedp.SetValue(chromedp.CSS("#login-password"), "not-the-password"),
					markPage(),
					chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
					chromedp.WaitVisible(chromedp.CSS("#login-error")),
				)
				assertSamePage(t, tab)
				mustContain(t, text(t, tab, "#login-error"), "Invalid credentials")
				waitForFocus(t, tab, "login-error")
			}},
			{"logging in reaches the dashboard", func(t *testing.T) {
				run(t, tab,
					chromedp.SetValue(chromedp.CSS("#login-password"), "password123"),
					chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
					chromedp.WaitVisible(chromedp.CSS("#keys")),
					waitForHTMX(),
				)
				if loc := location(t, tab); loc != base+"/dashboard" {
					t.Errorf("at %s", loc)
				}
				mustContain(t, text(t, tab, "main"), "Hello, alice", "How you logged in", "Your recent activity")
				mustContain(t, text(t, tab, "header"), "Logged in as alice")
				screenshot(t, tab, filepath.Join(shots, "dashboard.png"))
			}},
			{"creating a key shows its secret once, with a copy button", func(t *testing.T) {
				run(t, tab,
					chromedp.SetValue(chromedp.CSS("#key-name"), "ci-deploy"),
					markPage(),
					chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
					chromedp.WaitVisible(chromedp.CSS("#new-key-value")),
				)
				assertSamePage(t, tab)
				secret = strings.TrimSpace(text(t, tab, "#new-key-value"))
				if !strings.HasPrefix(secret, "sk_live_") {
					t.Fatalf("secret %q", secret)
				}
				waitForFocus(t, tab, "new-key")
				run(t, tab, chromedp.Click(chromedp.CSS(`[data-copy="new-key-value"]`)), chromedp.WaitVisible(chromedp.CSS("#status .flash")))
				keyRow = eval[string](t, tab, `[...document.querySelectorAll('#key-rows tr')].find(r => r.textContent.includes('ci-deploy')).id`)
				screenshot(t, tab, filepath.Join(shots, "key-created.png"))
			}},
			{"a reload no longer shows the secret", func(t *testing.T) {
				run(t, tab, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#keys")), waitForHTMX())
				mustNotContain(t, text(t, tab, "body"), secret)
				mustContain(t, text(t, tab, "#"+keyRow), "ci-deploy", "Active")
			}},
			{"revoking asks first, then marks the key revoked in place", func(t *testing.T) {
				dialogs := acceptDialogs(t, tab)
				run(t, tab, markPage())
				mustContain(t, clickAndConfirm(t, tab, dialogs, "#"+keyRow+" button"), "Revoke the key", "ci-deploy")
				run(t, tab, chromedp.Poll[chromedp.Void](`document.querySelector('#`+keyRow+` .badge').textContent.trim() === 'revoked'`,
					chromedp.WithPollingTimeout(10*time.Second)))
				assertSamePage(t, tab)
			}},
			{"logging out goes to the login page", func(t *testing.T) {
				run(t, tab,
					chromedp.Click(chromedp.CSS(".nav-user button")),
					chromedp.WaitVisible(chromedp.CSS("#login-form")),
				)
				mustContain(t, text(t, tab, "main"), "You have logged out.")
				mustContain(t, text(t, tab, "header"), "Not logged in")
			}},
			{"Back after logout shows nothing private", func(t *testing.T) {
				run(t, tab, chromedp.NavigateBack(), chromedp.WaitVisible(chromedp.CSS("main")))
				body := text(t, tab, "body")
				mustNotContain(t, body, "Hello, alice", "ci-deploy", "Your API keys", "Logged in as")
				if loc := location(t, tab); !strings.HasPrefix(loc, base+"/login") {
					t.Errorf("at %s", loc)
				}
			}},
		}
		for _, s := range steps {
			if !t.Run(s.name, s.fn) {
				return // each step builds on the one before
			}
		}
	})

	t.Run("without JavaScript the same login works", func(t *testing.T) {
		tab := newTab(t, browser, true)
		run(t, tab, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")))
		if kind := eval[string](t, tab, `typeof window.htmx`); kind != "undefined" {
			t.Fatalf("htmx ran (typeof window.htmx = %q): JavaScript is not off", kind)
		}
		run(t, tab,
			chromedp.SendKeys(chromedp.CSS("#login-username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("#login-password"), "wrong-again"),
			chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#login-error")),
		)
		mustContain(t, text(t, tab, "#login-error"), "Invalid credentials")
		run(t, tab,
			chromedp.SendKeys(chromedp.CSS("#login-password"), "password123"),
			chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#keys")),
		)
		if loc := location(t, tab); loc != base+"/dashboard" {
			t.Errorf("at %s", loc)
		}
		mustContain(t, text(t, tab, "main"), "Hello, alice")
		run(t, tab,
			chromedp.Click(chromedp.CSS(".nav-user button")),
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
		)
		mustContain(t, text(t, tab, "main"), "You have logged out.")
	})

	t.Run("the playground shows each try, newest first", func(t *testing.T) {
		tab := newTab(t, browser, false)
		steps := []struct {
			name string
			fn   func(t *testing.T)
		}{
			{"a wrong password shows its 401 exchange, without leaving the page", func(t *testing.T) {
				run(t, tab, chromedp.Navigate(base+"/playground"), waitForHTMX())
				if user := eval[string](t, tab, `document.getElementById('play-username').value`); user != "john" {
					t.Errorf("username prefilled with %q, want the demo user john", user)
				}
				run(t, tab,
					chromedp.SetValue(chromedp.CSS("#play-password"), "not-the-password"),
					markPage(),
					chromedp.Click(chromedp.CSS("#playground-form button[type=submit]")),
					chromedp.WaitVisible(chromedp.CSS("#exchanges .exchange")),
				)
				assertSamePage(t, tab)
				first := text(t, tab, "#exchanges .exchange")
				mustContain(t, first, "401 Unauthorized", "Invalid credentials", "GET /basic/profile HTTP/1.1",
					"Authorization: Basic ••••••••", `curl -i -u "john:$PASSWORD"`)
				mustNotContain(t, first, "not-the-password")
				// Our script moves the focus once htmx has settled the swap: wait for it.
				focusCtx, cancel := context.WithTimeout(tab, 5*time.Second)
				if _, err := chromedp.Run(focusCtx, chromedp.Poll[chromedp.Void](`document.activeElement && document.activeElement.classList.contains('exchange')`)); err != nil {
					t.Error("focus did not move to the new exchange")
				}
				cancel()
				eval[bool](t, tab, `document.activeElement.blur(), true`) // no focus ring in the picture
				screenshot(t, tab, filepath.Join(shots, "playground.png"))
			}},
			{"the right password's 200 goes on top of it", func(t *testing.T) {
				run(t, tab,
					chromedp.SetValue(chromedp.CSS("#play-password"), "secret123"),
					chromedp.Click(chromedp.CSS("#playground-form button[type=submit]")),
					chromedp.Poll[chromedp.Void](`document.querySelectorAll('#exchanges .exchange').length === 2`,
						chromedp.WithPollingTimeout(10*time.Second)),
				)
				assertSamePage(t, tab)
				mustContain(t, text(t, tab, "#exchanges .exchange:first-child"), "200 OK", "Welcome john!")
				mustContain(t, text(t, tab, "#exchanges .exchange:nth-child(2)"), "401 Unauthorized")
			}},
			{"choosing a key route switches to the key and its fields", func(t *testing.T) {
				eval[bool](t, tab, `(() => { const s = document.getElementById('play-op'); s.value = 'apiKeyData';
					s.dispatchEvent(new Event('change', {bubbles: true})); return true; })()`)
				if !eval[bool](t, tab, `document.querySelector('input[name=auth][value=api_key]').checked &&
					document.getElementById('play-username').closest('[data-for-auth]').hidden &&
					!document.getElementById('play-key').closest('[data-for-auth]').hidden`) {
					t.Error("the form did not switch to the API key")
				}
				run(t, tab,
					chromedp.Click(chromedp.CSS("#playground-form button[type=submit]")),
					chromedp.Poll[chromedp.Void](`document.querySelectorAll('#exchanges .exchange').length === 3`,
						chromedp.WithPollingTimeout(10*time.Second)),
				)
				mustContain(t, text(t, tab, "#exchanges .exchange:first-child"), "200 OK", "item1", "Bearer ••••••••")
			}},
		}
		for _, s := range steps {
			if !t.Run(s.name, s.fn) {
				return
			}
		}
	})

	t.Run("without JavaScript the playground answers with a page", func(t *testing.T) {
		tab := newTab(t, browser, true)
		run(t, tab, chromedp.Navigate(base+"/playground"), chromedp.WaitVisible(chromedp.CSS("#playground-form")),
			chromedp.Click(chromedp.CSS("#playground-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#exchanges .exchange")),
		)
		if loc := location(t, tab); loc != base+"/playground/send" {
			t.Errorf("at %s", loc)
		}
		mustContain(t, text(t, tab, "#exchanges"), "200 OK", "Welcome john!")
	})

	t.Run("the API reference links each route to the playground", func(t *testing.T) {
		tab := newTab(t, browser, false)
		run(t, tab, chromedp.Navigate(base+"/docs"), chromedp.WaitVisible(chromedp.CSS("#op-basicProfile")))
		mustContain(t, text(t, tab, "main"), "API reference", "Authentication", "HTTP Basic", "API keys", "Session cookie",
			"Greet the Basic-authenticated user", "Try it")
		// The first group of operations, with the contents beside it.
		eval[bool](t, tab, `document.getElementById('tag-basic').scrollIntoView(), true`)
		viewportScreenshot(t, tab, filepath.Join(shots, "docs.png"))
		run(t, tab,
			chromedp.Click(chromedp.CSS(`#op-basicAdmin a[href="/playground?op=basicAdmin"]`)),
			chromedp.WaitVisible(chromedp.CSS("#playground-form")),
			waitForHTMX(),
		)
		if op := eval[string](t, tab, `document.getElementById('play-op').value`); op != "basicAdmin" {
			t.Errorf("the playground opened with %q chosen", op)
		}
		if user := eval[string](t, tab, `document.getElementById('play-username').value`); user != "admin" {
			t.Errorf("username %q, want admin (the route's demo user)", user)
		}
	})
}

// findChromium returns the browser to drive, or "" when there is none.
// requireChromium is the Chromium to drive, or skips the test, saying how to get one.
func requireChromium(t *testing.T) string {
	t.Helper()
	chromium := findChromium()
	if chromium == "" {
		t.Skip("no Chromium found ($CHROMIUM, /usr/bin/chromium, chromium, chromium-browser, google-chrome): " +
			"browser tests skipped; apt-get install chromium to run them")
	}
	return chromium
}

func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts one headless Chromium for the whole test, with a fresh profile.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(browser); err != nil { // start it now, without a timeout
		t.Fatalf("starting %s: %v", path, err)
	}
	return browser
}

// newTab opens a tab in a browser context of its own (its own cookies), with
// JavaScript off when noJS is set. Each action it runs is bounded in time.
func newTab(t *testing.T, browser context.Context, noJS bool) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	if noJS {
		if _, err := chromedp.Call(tab, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatalf("turning JavaScript off: %v", err)
		}
	}
	return tab
}

// run runs actions in tab within 20 seconds, failing the test on an error.
func run(t *testing.T, tab context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func eval[T any](t *testing.T, tab context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

func text(t *testing.T, tab context.Context, css string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		t.Fatalf("text of %s: %v", css, err)
	}
	return v
}

func location(t *testing.T, tab context.Context) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatalf("location: %v", err)
	}
	return v
}

// waitForHTMX waits until htmx has loaded and the page is ready, so clicks go to htmx.
func waitForHTMX() chromedp.Action[chromedp.Void] {
	return chromedp.Poll[chromedp.Void](`window.htmx !== undefined && document.readyState === 'complete'`,
		chromedp.WithPollingTimeout(10*time.Second))
}

// waitForFocus waits until the element with id has the focus (our script moves it
// once htmx has settled the swap).
func waitForFocus(t *testing.T, tab context.Context, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.activeElement && document.activeElement.id === '`+id+`'`))
	if err != nil {
		t.Errorf("focus did not move to #%s (it is on %q): %v", id, eval[string](t, tab, `document.activeElement ? document.activeElement.id : ''`), err)
	}
}

// markPage leaves a mark on the window that a page load would wipe out.
func markPage() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`window.__stayed = true`)(ctx, tgt)
		return err
	})
}

// assertSamePage fails unless the mark from markPage is still there: htmx, not a
// page load, did the work.
func assertSamePage(t *testing.T, tab context.Context) {
	t.Helper()
	if !eval[bool](t, tab, `window.__stayed === true`) {
		t.Error("the page was reloaded: htmx did not handle this")
	}
}

// clickAndConfirm clicks an element whose click opens a confirm dialog, waits
// until acceptDialogs (dialogs) has accepted it, and returns its message. The
// click is queued from script so no CDP call is in flight while the dialog blocks
// the page: a mouse click or an evaluation left waiting on a dialog fails at
// random with "Inspected target navigated or closed".
func clickAndConfirm(t *testing.T, tab context.Context, dialogs <-chan string, selector string) string {
	t.Helper()
	run(t, tab, clickFromScript(selector))
	select {
	case msg := <-dialogs:
		return msg
	case <-time.After(10 * time.Second):
		t.Fatalf("clicking %s asked no confirmation", selector)
		return ""
	}
}

// clickFromScript clicks an element from a queued script, so the call returns at
// once, for a click under which the page navigates away.
func clickFromScript(selector string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
		found, err := chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+strconv.Quote(selector)+`);
			if (!el) return false;
			setTimeout(() => el.click(), 0);
			return true; })()`)(ctx, tgt)
		if err == nil && !found {
			err = errors.New("no element " + selector + " to click")
		}
		return err
	})
}

// acceptDialogs accepts every JavaScript dialog of the tab and sends its message.
func acceptDialogs(t *testing.T, tab context.Context) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(tab)
	t.Cleanup(cancel)
	messages := make(chan string, 4)
	opened := make(chan string, 4)
	if err := chromedp.Listen(ctx, func(ev any) {
		if d, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			opened <- d.Message
		}
	}); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-opened:
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
				messages <- msg
			}
		}
	}()
	return messages
}

// screenshotDir is tmp/screenshots at the repository's root (git-ignored).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
	shots := filepath.Join(dir, "tmp", "screenshots")
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

// viewportScreenshot saves what the window shows, for pages too long to show whole.
func viewportScreenshot(t *testing.T, tab context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func screenshot(t *testing.T, tab context.Context, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}
