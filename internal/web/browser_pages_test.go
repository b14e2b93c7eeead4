package web

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Who looks at a page in TestEveryPage.
const (
	visitorAnonymous = "anonymous"
	visitorUser      = "alice"
	visitorAdmin     = "admin"
)

// everyPage is every page of the app, with the visitors who see it, for
// TestEveryPage. A new page gets a row here; do, when set, brings the page into a
// state worth checking too (after navigating and before checking).
var everyPage = []struct {
	name string
	path string
	as   []string
	do   func(t *testing.T, tab context.Context)
}{
	{"the home page", "/", []string{visitorAnonymous, visitorUser}, nil},
	{"the login page", "/login", []string{visitorAnonymous}, nil},
	{"the sign-up page", "/register", []string{visitorAnonymous}, nil},
	{"the playground", "/playground", []string{visitorAnonymous, visitorUser}, nil},
	{"the playground after a try", "/playground", []string{visitorAnonymous}, func(t *testing.T, tab context.Context) {
		run(t, tab, chromedp.Click(chromedp.CSS("#playground-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#exchanges .exchange")))
	}},
	{"the API reference", "/docs", []string{visitorAnonymous, visitorUser}, nil},
	{"the dashboard", "/dashboard", []string{visitorUser, visitorAdmin}, nil},
	{"the dashboard showing a new key's secret", "/dashboard", []string{visitorUser}, func(t *testing.T, tab context.Context) {
		run(t, tab, chromedp.SetValue(chromedp.CSS("#key-name"), "a-key-with-a-rather-long-name-for-a-phone"),
			chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#new-key-value")))
	}},
	{"the account page", "/account", []string{visitorUser}, nil},
	{"the sessions page", "/account/sessions", []string{visitorUser, visitorAdmin}, nil},
	{"the list of users", "/admin/users", []string{visitorAdmin}, nil},
	{"the audit log", "/admin/audit", []string{visitorAdmin}, nil},
	{"one user, as an admin sees them", "/admin/users/3", []string{visitorAdmin}, nil},
	{"a page that does not exist", "/no-such-page", []string{visitorAnonymous, visitorUser}, nil},
	{"the forgotten-password page", "/password/forgot", []string{visitorAnonymous}, nil},
	{"the forgotten-password page after asking", "/password/forgot", []string{visitorAnonymous}, func(t *testing.T, tab context.Context) {
		run(t, tab, chromedp.SendKeys(chromedp.CSS("#forgot-login"), "nobody@example.com"),
			chromedp.Click(chromedp.CSS("#forgot-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#forgot-form .flash")))
	}},
	{"the reset page", "/password/reset?token=0123456789012345678901234567890123456789abc", []string{visitorAnonymous}, nil},
	{"the address confirmation, a dead link", "/account/email/verify?token=nope", []string{visitorAnonymous, visitorUser}, nil},
	{"the development mailbox", "/dev/mailbox", []string{visitorAnonymous}, nil},
}

// phoneWidth and phoneHeight are an iPhone 12-15's viewport in CSS pixels.
const phoneWidth, phoneHeight = 390, 844

// TestEveryPage opens every page (everyPage) on a phone-sized screen, logged out
// and logged in, and fails when a page is wider than the screen (it would scroll
// sideways as a whole) or when axe-core finds a serious or critical accessibility
// violation on it. axe-core is vendored for this test only (testdata/axe.min.js)
// and injected into the page; the app never serves it.
func TestEveryPage(t *testing.T) {
	chromium := requireChromium(t)
	axe, err := os.ReadFile(filepath.Join("testdata", "axe.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, nil)
	base := a.serve(t)
	browser := startBrowser(t, chromium)

	passwords := map[string]string{visitorUser: "password123", visitorAdmin: "supersecret"}
	tabs := map[string]context.Context{}
	for _, who := range []string{visitorAnonymous, visitorUser, visitorAdmin} {
		tab := newTab(t, browser, false)
		run(t, tab, chromedp.EmulateViewport(phoneWidth, phoneHeight))
		if who != visitorAnonymous {
			browserLogin(t, tab, base, who, passwords[who])
		}
		tabs[who] = tab
	}

	for _, p := range everyPage {
		for _, who := range p.as {
			t.Run(p.name+" as "+who+" fits a phone and passes axe", func(t *testing.T) {
				tab := tabs[who]
				run(t, tab, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS("main")), waitForHTMX())
				if p.do != nil {
					p.do(t, tab)
				}
				// Let htmx settle and our script move the focus before measuring.
				run(t, tab, chromedp.Poll[chromedp.Void](`!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')`,
					chromedp.WithPollingTimeout(5*time.Second)))
				if loggedIn := strings.Contains(text(t, tab, "header"), "Logged in as "+who); loggedIn != (who != visitorAnonymous) {
					t.Errorf("the header says logged in = %v for %s", loggedIn, who)
				}
				assertFitsViewport(t, tab)
				assertNoSeriousAxeViolation(t, tab, string(axe))
			})
		}
	}
}

// browserLogin logs who in through the login form.
func browserLogin(t *testing.T, tab context.Context, base, who, password string) {
	t.Helper()
	run(t, tab,
		chromedp.Navigate(base+"/login"), waitForHTMX(),
		chromedp.SetValue(chromedp.CSS("#login-username"), who),
		chromedp.SetValue(chromedp.CSS("#login-password"), password),
		chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
		chromedp.WaitVisible(chromedp.CSS("#keys")),
	)
}

// pageWidth is what assertFitsViewport measures: the page's scroll width, the
// viewport's, and the elements reaching past the viewport's right edge.
type pageWidth struct {
	Viewport    int      `json:"viewport"`
	ScrollWidth int      `json:"scrollWidth"`
	Overflowing []string `json:"overflowing"`
}

// assertFitsViewport fails when the page is wider than the viewport, naming the
// elements that stick out (a table that scrolls inside its wrapper is listed when
// something else widens the page, but does not widen it itself).
func assertFitsViewport(t *testing.T, tab context.Context) {
	t.Helper()
	w := eval[pageWidth](t, tab, `(() => {
		const vw = window.innerWidth;
		const out = [];
		const describe = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
			(e.classList.length ? '.' + [...e.classList].join('.') : '');
		for (const e of document.body.querySelectorAll('*')) {
			const r = e.getBoundingClientRect();
			if (r.right <= vw + 0.5) continue;
			// The outermost ones, and anything positioned: it may escape a clipping
			// wrapper, which is how a visually hidden header widened the dashboard.
			const p = e.parentElement;
			const positioned = ['absolute', 'fixed'].includes(getComputedStyle(e).position);
			if (!positioned && p && p !== document.body && p.getBoundingClientRect().right > vw + 0.5) continue;
			out.push(describe(e) + ' (right edge at ' + Math.round(r.right + window.scrollX) + ')');
		}
		return {viewport: vw, scrollWidth: document.documentElement.scrollWidth, overflowing: out.slice(0, 8)};
	})()`)
	if w.Viewport != phoneWidth {
		t.Fatalf("viewport is %d px wide, want %d", w.Viewport, phoneWidth)
	}
	if w.ScrollWidth > w.Viewport {
		t.Errorf("the page is %d px wide on a %d px screen; sticking out: %s", w.ScrollWidth, w.Viewport,
			strings.Join(w.Overflowing, ", "))
	}
}

// axeViolation is one rule axe-core found broken, with where.
type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// assertNoSeriousAxeViolation injects axe-core into the page, runs it, and fails
// on every violation of serious or critical impact.
func assertNoSeriousAxeViolation(t *testing.T, tab context.Context, axe string) {
	t.Helper()
	if !eval[bool](t, tab, `typeof window.axe === 'object'`) {
		eval[bool](t, tab, axe+"\n;typeof window.axe === 'object'")
	}
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	violations, err := chromedp.Run(ctx, chromedp.Evaluate[[]axeViolation](`axe.run(document, {resultTypes: ['violations']}).then(r =>
		r.violations.map(v => ({id: v.id, impact: v.impact || '', help: v.help,
			nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))})))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("running axe: %v", err)
	}
	for _, v := range violations {
		msg := fmt.Sprintf("axe %s %s: %s, at %s", v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "; "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// TestKeysInPlace drives the dashboard's keys in Chromium: with JavaScript a create
// or revoke updates the recent activity, and revoking the key whose secret is
// shown takes the secret off the page (and only that key), all without a console
// error; without JavaScript a new key is shown once at /dashboard, not /keys.
func TestKeysInPlace(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	base := a.serve(t)
	browser := startBrowser(t, chromium)

	t.Run("with JavaScript", func(t *testing.T) {
		tab := newTab(t, browser, false)
		consoleErrors := watchConsoleErrors(t, tab)
		dialogs := acceptDialogs(t, tab)
		browserLogin(t, tab, base, "alice", "password123")
		run(t, tab, waitForHTMX())
		create := func(t *testing.T, name string) string {
			t.Helper()
			run(t, tab,
				chromedp.SetValue(chromedp.CSS("#key-name"), name),
				chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
				chromedp.Poll[chromedp.Void](`(document.getElementById('new-key-title') || {}).textContent === 'Key “`+name+`” created'`,
					chromedp.WithPollingTimeout(10*time.Second)),
			)
			return eval[string](t, tab, `[...document.querySelectorAll('#key-rows tr')].find(r => r.cells[0].textContent === '`+name+`').id`)
		}
		revoke := func(t *testing.T, row string) {
			t.Helper()
			clickAndConfirm(t, tab, dialogs, "#"+row+" button")
			run(t, tab, chromedp.Poll[chromedp.Void](`document.querySelector('#`+row+` .badge').textContent.trim() === 'revoked'`,
				chromedp.WithPollingTimeout(10*time.Second)))
		}
		// waitForActivity waits until the recent activity shows an event about key id.
		waitForActivity := func(t *testing.T, action, name string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(tab, 10*time.Second)
			defer cancel()
			js := `[...document.querySelectorAll('#activity tbody tr')].some(r => r.cells[1].textContent === '` + action +
				`' && r.cells[4].textContent.includes('"` + name + `"'))`
			if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](js)); err != nil {
				t.Errorf("the recent activity does not show %s of %q: %s", action, name, text(t, tab, "#activity"))
			}
		}

		run(t, tab, markPage())
		first := create(t, "first")
		waitForActivity(t, "key.create", "first")
		create(t, "second")
		revoke(t, first)
		waitForActivity(t, "key.revoke", "first")
		if shown := eval[string](t, tab, `(document.getElementById('new-key-title') || {textContent: ''}).textContent`); shown != "Key “second” created" {
			t.Errorf("revoking another key changed the secret shown to %q", shown)
		}
		second := eval[string](t, tab, `[...document.querySelectorAll('#key-rows tr')].find(r => r.cells[0].textContent === 'second').id`)
		revoke(t, second)
		waitForActivity(t, "key.revoke", "second")
		if eval[bool](t, tab, `document.getElementById('new-key') !== null`) {
			t.Error("the secret of a revoked key is still on the page")
		}
		assertSamePage(t, tab)
		select {
		case msg := <-consoleErrors:
			t.Errorf("console error: %s", msg)
		default:
		}
	})

	t.Run("without JavaScript a new key is shown once, at the dashboard", func(t *testing.T) {
		tab := newTab(t, browser, true)
		run(t, tab,
			chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
			chromedp.SendKeys(chromedp.CSS("#login-username"), "alice"),
			chromedp.SendKeys(chromedp.CSS("#login-password"), "password123"),
			chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#keys")),
			chromedp.SendKeys(chromedp.CSS("#key-name"), "no-js"),
			chromedp.Click(chromedp.CSS("#key-form button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS("#new-key-value")),
		)
		if loc := location(t, tab); loc != base+"/dashboard#new-key" {
			t.Errorf("after creating a key the address is %s, want %s/dashboard#new-key", loc, base)
		}
		secret := strings.TrimSpace(text(t, tab, "#new-key-value"))
		if !strings.HasPrefix(secret, "sk_live_") {
			t.Fatalf("secret %q", secret)
		}
		run(t, tab, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#keys")))
		mustNotContain(t, text(t, tab, "body"), secret)
	})
}

// watchConsoleErrors reports every console.error and uncaught exception of tab
// (htmx reports, for one, an out-of-band swap whose target is missing).
func watchConsoleErrors(t *testing.T, tab context.Context) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(tab)
	t.Cleanup(cancel)
	out := make(chan string, 16)
	report := func(msg string) {
		select {
		case out <- msg:
		default:
		}
	}
	if err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, arg := range e.Args {
					parts = append(parts, string(arg.Value)+arg.Description)
				}
				report(strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			report(msg)
		}
	}); err != nil {
		t.Fatal(err)
	}
	return out
}
