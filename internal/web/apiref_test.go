package web

import (
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestDocsPage checks that /docs shows every operation of the document with its
// authentication, body, every response and a working "try it" link, so the page
// cannot fall behind the document.
func TestDocsPage(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.client()
	resp, raw := c.page(t, "/docs")
	if resp.StatusCode != 200 {
		t.Fatalf("GET /docs: %d", resp.StatusCode)
	}
	body := html.UnescapeString(raw)
	ops := a.doc.Operations
	if len(ops) == 0 {
		t.Fatal("the document has no operations")
	}
	for _, o := range ops {
		t.Run(o.OperationID, func(t *testing.T) {
			start := strings.Index(body, `<article class="card op" id="op-`+o.OperationID+`"`)
			if start < 0 {
				t.Fatalf("no section for %s", o.OperationID)
			}
			end := strings.Index(body[start:], "</article>")
			section := body[start : start+end]
			mustContain(t, section, `<span class="verb verb-`+o.Method+`">`+o.Method+`</span> <code class="path">`+o.Path+`</code>`, o.Summary)
			for code := range o.Responses.Map() {
				if !regexp.MustCompile(`<span class="status status-[a-z]+">` + code + `</span>`).MatchString(section) {
					t.Errorf("response %s is missing", code)
				}
			}
			if o.Security != nil && len(*o.Security) == 0 {
				mustContain(t, section, "None: a public route.")
			} else {
				mustContain(t, section, "<dt>Authentication</dt>")
			}
			if d := o.Demo(); d.Username != "" {
				mustContain(t, section, "user <code>"+d.Username+"</code>, password <code>"+d.Password+"</code>")
			}
			if o.RequestBody != nil {
				mediaType := "application/json"
				if o.RequestBody.Value.Content.Get(mediaType) == nil {
					mediaType = "application/x-www-form-urlencoded" // the token endpoint's
				}
				mustContain(t, section, "Request body", mediaType, "Example")
			}
			link := `href="/playground?op=` + o.OperationID + `"`
			if slices.Contains(playableOps, o.OperationID) {
				mustContain(t, section, link)
				resp, page := c.page(t, "/playground?op="+o.OperationID)
				if resp.StatusCode != 200 || !regexp.MustCompile(`value="`+o.OperationID+`"[^>]*selected`).MatchString(page) {
					t.Errorf("try it does not open the playground with %s chosen", o.OperationID)
				}
			} else {
				mustNotContain(t, section, link)
			}
		})
	}

	t.Run("groups follow the document's tags, with their names", func(t *testing.T) {
		var last int
		for _, tag := range a.doc.Spec.Tags {
			i := strings.Index(body, `id="tag-`+tag.Name+`-title">`+tagDisplayName(tag)+`</h2>`)
			if i < 0 || i < last {
				t.Errorf("group %s is missing or out of order", tag.Name)
			}
			last = i
		}
	})

	t.Run("named examples show with their summaries", func(t *testing.T) {
		mustContain(t, body, "Failed-login throttle", "Too many failed logins; try again later", "Wrong username or password",
			`"message": "Write access required"`)
	})

	t.Run("without demo data no credentials are offered", func(t *testing.T) {
		b := newTestApp(t, map[string]string{"DEMO_DATA": "false"})
		_, raw := b.client().page(t, "/docs")
		mustNotContain(t, raw, "<dt>Demo</dt>")
	})
}

func TestMarkdown(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain <b>text</b>", "<p>plain &lt;b&gt;text&lt;/b&gt;</p>"},
		{"use `X-API-Key: <k>` here", "<p>use <code>X-API-Key: &lt;k&gt;</code> here</p>"},
		{"one\nline\n\ntwo", "<p>one line</p><p>two</p>"},
		{"an `unclosed span", "<p>an <code>unclosed span</code></p>"},
	}
	for _, tt := range tests {
		if got := string(markdown(tt.in)); got != tt.want {
			t.Errorf("markdown(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The home page and the nav of every page lead to the playground and the docs.
func TestPagesLinkPlaygroundAndDocs(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	nav := regexp.MustCompile(`(?s)<nav class="nav".*?</nav>`)
	for _, tc := range []struct {
		c    *client
		path string
	}{{a.client(), "/"}, {a.client(), "/login"}, {a.client(), "/docs"}, {a.client(), "/playground"}, {alice, "/dashboard"}} {
		_, body := tc.c.page(t, tc.path)
		mustContain(t, nav.FindString(body), `href="/playground"`, `href="/docs"`)
	}
	_, home := a.client().page(t, "/")
	mustContain(t, home, `<a class="button" href="/playground">`, `<a class="button secondary" href="/docs">`,
		`href="/playground?op=basicProfile"`, `href="/playground?op=apiKeyData"`)
}
