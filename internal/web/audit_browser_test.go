package web

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"fiberauth/internal/store"
)

// follow takes the "Older events" link. With JavaScript it first waits for htmx
// to have taken the link over (a click before that would load the href as a
// page); without, it loads the page the link names.
func follow(t *testing.T, tab context.Context, noJS bool) {
	t.Helper()
	if noJS {
		href := eval[string](t, tab, `document.querySelector('#audit-more a').href`)
		// Loading the href is what a click on a plain link does. (A chromedp click
		// that navigates a page whose scripts are off fails its next action with
		// "Cannot find context": chromedp loses the page's execution context.)
		run(t, tab, chromedp.Navigate(href), chromedp.WaitVisible(chromedp.CSS("#audit-rows")))
		return
	}
	run(t, tab,
		chromedp.Poll[chromedp.Void](`!!document.querySelector('#audit-more a')['htmx-internal-data']`, chromedp.WithPollingTimeout(10*time.Second)),
		markPage(),
		chromedp.Click(chromedp.CSS("#audit-more a")))
}

// TestAuditBrowser: an admin filters the audit log and reads on page by page, with
// JavaScript (htmx appends the next rows in place) and without (each page is a
// page of its own).
func TestAuditBrowser(t *testing.T) {
	chromium := requireChromium(t)
	a := newTestApp(t, nil)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		appendAudit(t, a, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "carol", Action: "key.create",
			Outcome: "success", ClientIP: "192.0.2.7", Detail: fmt.Sprintf("event %d", i)})
	}
	base := a.serve(t)
	browser := startBrowser(t, chromium)
	shots := screenshotDir(t)
	rows := `[...document.querySelectorAll('#audit-rows tr:not(#audit-more)')].map(r => r.cells[5].textContent).join(',')`

	for _, noJS := range []bool{false, true} {
		name := "with JavaScript, older events are added in place"
		if noJS {
			name = "without JavaScript, older events are the next page"
		}
		t.Run(name, func(t *testing.T) {
			tab := newTab(t, browser, noJS)
			run(t, tab, chromedp.Navigate(base+"/login?next="+url.QueryEscape("/admin/audit")),
				chromedp.WaitVisible(chromedp.CSS("#login-form")),
				chromedp.SendKeys(chromedp.CSS("#login-username"), "admin"),
				chromedp.SendKeys(chromedp.CSS("#login-password"), "supersecret"),
				chromedp.Click(chromedp.CSS("#login-form button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("#audit-filter")),
			)
			if !noJS {
				run(t, tab, waitForHTMX())
			}
			mustContain(t, text(t, tab, "header"), "Audit")

			// The filter form is a plain GET form.
			run(t, tab,
				chromedp.SendKeys(chromedp.CSS("#audit-actor"), "carol"),
				chromedp.SendKeys(chromedp.CSS("#audit-limit"), "2"),
				chromedp.Click(chromedp.CSS("#audit-filter button[type=submit]")),
				chromedp.WaitVisible(chromedp.CSS("#audit-more")),
			)
			if loc := location(t, tab); !strings.Contains(loc, "actor=carol") || !strings.Contains(loc, "limit=2") {
				t.Fatalf("at %s", loc)
			}
			if got := eval[string](t, tab, rows); got != "event 4,event 3" {
				t.Fatalf("first page shows %q", got)
			}
			if !noJS {
				run(t, tab, waitForHTMX())
				screenshot(t, tab, filepath.Join(shots, "admin-audit.png"))
			}

			follow(t, tab, noJS)
			want := "event 2,event 1"
			if !noJS {
				want = "event 4,event 3,event 2,event 1"
			}
			run(t, tab, chromedp.Poll[chromedp.Void](rows+` === '`+want+`'`, chromedp.WithPollingTimeout(10*time.Second)))
			if noJS {
				if loc := location(t, tab); !strings.Contains(loc, "cursor=") {
					t.Errorf("at %s", loc)
				}
				mustContain(t, text(t, tab, "main"), "Older events", "Back to the newest events")
			} else {
				assertSamePage(t, tab)
			}

			// The last page has no link onwards.
			follow(t, tab, noJS)
			want = "event 0"
			if !noJS {
				want = "event 4,event 3,event 2,event 1,event 0"
			}
			run(t, tab, chromedp.Poll[chromedp.Void](rows+` === '`+want+`' && !document.getElementById('audit-more')`,
				chromedp.WithPollingTimeout(10*time.Second)))
		})
	}
}
