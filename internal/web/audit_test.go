package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/store"
)

// auditJSON is the body of GET /admin/audit.
type auditJSON struct {
	Events []struct {
		ID       int64     `json:"id"`
		At       time.Time `json:"at"`
		Actor    string    `json:"actor"`
		Action   string    `json:"action"`
		Outcome  string    `json:"outcome"`
		ClientIP string    `json:"client_ip"`
		Detail   string    `json:"detail"`
	} `json:"events"`
	NextCursor *string `json:"next_cursor"`
}

func (p auditJSON) ids() []int64 {
	out := []int64{}
	for _, e := range p.Events {
		out = append(out, e.ID)
	}
	return out
}

// auditAdmin is an admin's browser, logged in with JSON.
func auditAdmin(t *testing.T, a *testApp) *client {
	t.Helper()
	c := a.client()
	if resp, body := c.do(t, jsonRequest("POST", "/login", `{"username":"admin","password":"supersecret"}`)); resp.StatusCode != 200 {
		t.Fatalf("admin login: %d %s", resp.StatusCode, body)
	}
	return c
}

// getAuditJSON asks for an audit page as a JSON client and decodes it.
func getAuditJSON(t *testing.T, c *client, query string) auditJSON {
	t.Helper()
	resp, body := c.do(t, request("GET", "/admin/audit?"+query, ""))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/audit?%s: %d %s", query, resp.StatusCode, body)
	}
	var p auditJSON
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return p
}

// appendAudit records events straight into the store.
func appendAudit(t testing.TB, a *testApp, events ...store.AuditEvent) {
	t.Helper()
	for _, e := range events {
		if err := a.store.AppendAudit(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
}

func cursorOf(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAdminAuditRoute(t *testing.T) {
	a := newTestApp(t, nil)
	admin := auditAdmin(t, a)
	alice := a.client()
	alice.login(t, "alice", "password123")
	tooLong := strings.Repeat("a", 257)

	tests := []struct {
		name       string
		c          *client
		req        *http.Request
		wantStatus int
		wantFields []string // the 422's details, in order
		want       []string
	}{
		{"an admin gets a page of events", admin, request("GET", "/admin/audit", ""), 200, nil,
			[]string{`"events":[{"id":`, `"action":"login"`, `"next_cursor":null`}},
		{"a user is refused", alice, request("GET", "/admin/audit", ""), 403, nil,
			[]string{`{"error":{"message":"Admins only","type":"authorization_error","status_code":403}}`}},
		{"a user's browser gets the 403 page", alice, request("GET", "/admin/audit", "", "Accept", "text/html"), 403, nil,
			[]string{"<html", "Admins only"}},
		{"a user is refused the CSV too", alice, request("GET", "/admin/audit?format=csv", ""), 403, nil, []string{"Admins only"}},
		{"nobody logged in is not authenticated", a.client(), request("GET", "/admin/audit", ""), 401, nil, []string{"Not authenticated"}},
		{"Basic credentials do not open it", a.client(), request("GET", "/admin/audit", "", "Authorization", basicAuth("admin", "supersecret")), 401, nil, nil},
		{"a cursor that is not base64url", admin, request("GET", "/admin/audit?cursor=%25%25", ""), 422, []string{"cursor"}, nil},
		{"a cursor without a colon", admin, request("GET", "/admin/audit?cursor="+cursorOf("12345"), ""), 422, []string{"cursor"}, nil},
		{"a cursor with an ID of 0", admin, request("GET", "/admin/audit?cursor="+cursorOf("1:0"), ""), 422, []string{"cursor"}, nil},
		{"a cursor with a negative time", admin, request("GET", "/admin/audit?cursor="+cursorOf("-1:5"), ""), 422, []string{"cursor"}, nil},
		{"a cursor spelt another way", admin, request("GET", "/admin/audit?cursor="+cursorOf("01:5"), ""), 422, []string{"cursor"}, nil},
		{"a cursor with padding", admin, request("GET", "/admin/audit?cursor="+base64.URLEncoding.EncodeToString([]byte("12:5")), ""), 422, []string{"cursor"}, nil},
		{"since that is not RFC 3339", admin, request("GET", "/admin/audit?since=yesterday", ""), 422, []string{"since"}, nil},
		{"since without a zone", admin, request("GET", "/admin/audit?since=2026-01-02T03:04:05", ""), 422, []string{"since"}, nil},
		{"until that is not RFC 3339", admin, request("GET", "/admin/audit?until=2026-13-01T00:00:00Z", ""), 422, []string{"until"}, nil},
		{"since after until", admin, request("GET", "/admin/audit?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", ""), 422, []string{"since"}, nil},
		{"a limit of 0", admin, request("GET", "/admin/audit?limit=0", ""), 422, []string{"limit"}, nil},
		{"a limit of 501", admin, request("GET", "/admin/audit?limit=501", ""), 422, []string{"limit"}, nil},
		{"a limit that is not a number", admin, request("GET", "/admin/audit?limit=ten", ""), 422, []string{"limit"}, nil},
		{"an unknown outcome", admin, request("GET", "/admin/audit?outcome=maybe", ""), 422, []string{"outcome"}, nil},
		{"an actor with a NUL", admin, request("GET", "/admin/audit?actor=a%00b", ""), 422, []string{"actor"}, nil},
		{"an action that is not UTF-8", admin, request("GET", "/admin/audit?action=%FF", ""), 422, []string{"action"}, nil},
		{"an actor over 256 bytes", admin, request("GET", "/admin/audit?actor="+tooLong, ""), 422, []string{"actor"}, nil},
		{"an unknown format", admin, request("GET", "/admin/audit?format=xml", ""), 422, []string{"format"}, nil},
		{"every bad field is named at once", admin, request("GET", "/admin/audit?outcome=x&since=x&until=y&limit=0&cursor=x", ""), 422,
			[]string{"outcome", "since", "until", "limit", "cursor"}, nil},
		{"a bad filter on the CSV is a 422 before any download starts", admin, request("GET", "/admin/audit?format=csv&since=x", ""), 422,
			[]string{"since"}, nil},
		{"the edges of the limit are fine", admin, request("GET", "/admin/audit?limit=500", ""), 200, nil, nil},
		{"a limit of 1", admin, request("GET", "/admin/audit?limit=1", ""), 200, nil, []string{`"next_cursor":"`}},
		{"since equal to until is an empty range", admin, request("GET", "/admin/audit?since=2026-01-02T00:00:00Z&until=2026-01-02T00:00:00Z", ""), 200, nil,
			[]string{`{"events":[],"next_cursor":null}`}},
		{"times far outside the stored range", admin, request("GET", "/admin/audit?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59Z", ""), 200, nil,
			[]string{`"action":"login"`}},
		{"a well-formed cursor from nowhere is just a place in the log", admin, request("GET", "/admin/audit?cursor="+cursorOf("1:1"), ""), 200, nil,
			[]string{`{"events":[],"next_cursor":null}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.c.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			mustContain(t, body, tt.want...)
			if tt.wantStatus != 422 {
				return
			}
			var fields []string
			for _, d := range envelope(t, body).Details {
				fields = append(fields, d.Field)
			}
			if !slices.Equal(fields, tt.wantFields) {
				t.Errorf("details on %v, want %v: %s", fields, tt.wantFields, body)
			}
			if resp.Header.Get("Content-Disposition") != "" {
				t.Errorf("an error is sent as a download: %s", resp.Header.Get("Content-Disposition"))
			}
		})
	}
}

// Each filter alone and together selects exactly the events a plain reading of it
// would, on events of every kind.
func TestAdminAuditFilters(t *testing.T) {
	a := newTestApp(t, nil)
	admin := auditAdmin(t, a)
	t0 := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 30 {
		appendAudit(t, a, store.AuditEvent{
			At:       t0.Add(time.Duration(i) * time.Minute),
			Actor:    []string{"carol", "dave", "erin"}[i%3],
			Action:   []string{"login", "key.create", "logout", "password.change"}[i%4],
			Outcome:  []string{"success", "failure"}[i%5/4], // one in five fails
			ClientIP: "10.0.0.1",
		})
	}
	all, err := a.store.AuditPage(t.Context(), store.AuditFilter{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }
	rfc := func(minutes int) string { return at(minutes).Format(time.RFC3339) }

	tests := []struct {
		name  string
		query url.Values
		match func(e store.AuditEvent) bool
	}{
		{"no filter", url.Values{}, func(store.AuditEvent) bool { return true }},
		{"actor", url.Values{"actor": {"dave"}}, func(e store.AuditEvent) bool { return e.Actor == "dave" }},
		{"action", url.Values{"action": {"key.create"}}, func(e store.AuditEvent) bool { return e.Action == "key.create" }},
		{"outcome", url.Values{"outcome": {"failure"}}, func(e store.AuditEvent) bool { return e.Outcome == "failure" }},
		{"since", url.Values{"since": {rfc(20)}}, func(e store.AuditEvent) bool { return !e.At.Before(at(20)) }},
		{"until", url.Values{"until": {rfc(5)}}, func(e store.AuditEvent) bool { return e.At.Before(at(5)) }},
		{"since with a zone offset", url.Values{"since": {at(20).In(time.FixedZone("", 2*3600)).Format(time.RFC3339)}},
			func(e store.AuditEvent) bool { return !e.At.Before(at(20)) }},
		{"actor and action", url.Values{"actor": {"carol"}, "action": {"login"}},
			func(e store.AuditEvent) bool { return e.Actor == "carol" && e.Action == "login" }},
		{"action and outcome", url.Values{"action": {"logout"}, "outcome": {"success"}},
			func(e store.AuditEvent) bool { return e.Action == "logout" && e.Outcome == "success" }},
		{"a time range", url.Values{"since": {rfc(3)}, "until": {rfc(17)}},
			func(e store.AuditEvent) bool { return !e.At.Before(at(3)) && e.At.Before(at(17)) }},
		{"everything at once", url.Values{"actor": {"erin"}, "action": {"login"}, "outcome": {"success"}, "since": {rfc(0)}, "until": {rfc(29)}},
			func(e store.AuditEvent) bool {
				return e.Actor == "erin" && e.Action == "login" && e.Outcome == "success" && !e.At.Before(at(0)) && e.At.Before(at(29))
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := []int64{}
			for _, e := range all {
				if tt.match(e) {
					want = append(want, e.ID)
				}
			}
			if len(want) == 0 || (len(want) == len(all) && len(tt.query) > 0) {
				t.Fatalf("a filter that selects %d of %d events tests nothing", len(want), len(all))
			}
			tt.query.Set("limit", "500")
			got := getAuditJSON(t, admin, tt.query.Encode())
			if !slices.Equal(got.ids(), want) {
				t.Errorf("got IDs %v, want %v", got.ids(), want)
			}
		})
	}

	t.Run("an event has every documented field", func(t *testing.T) {
		resp, body := admin.do(t, request("GET", "/admin/audit?limit=1&actor=carol", ""))
		if resp.StatusCode != 200 {
			t.Fatal(resp.StatusCode)
		}
		var raw struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal([]byte(body), &raw); err != nil || len(raw.Events) != 1 {
			t.Fatalf("%v %s", err, body)
		}
		if keys := jsonFields(raw.Events[0]); !slices.Equal(keys, []string{"action", "actor", "at", "client_ip", "detail", "id", "outcome"}) {
			t.Errorf("fields %v", keys)
		}
	})
}

// Following next_cursor reads every event once, in order, however many are
// recorded between two pages; the last page says so with a null cursor.
func TestAdminAuditPagination(t *testing.T) {
	a := newTestApp(t, nil)
	admin := auditAdmin(t, a)
	// Before the admin's own login: older than everything added later.
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 23 {
		appendAudit(t, a, store.AuditEvent{At: past.Add(time.Duration(i/2) * time.Second), // in pairs sharing an instant
			Actor: fmt.Sprintf("u%d", i), Action: "login", Outcome: "success"})
	}
	want := getAuditJSON(t, admin, "limit=500").ids()

	var got []int64
	query := "limit=5"
	pages := 0
	for {
		p := getAuditJSON(t, admin, query)
		got = append(got, p.ids()...)
		pages++
		// Events keep arriving while the admin reads: logins (now) and one that
		// shares the instant of the page's last row.
		if resp, _ := a.do(t, jsonRequest("POST", "/login", `{"username":"bob","password":"securepass"}`)); resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		if n := len(p.Events); n > 0 {
			appendAudit(t, a, store.AuditEvent{At: p.Events[n-1].At, Actor: "late", Action: "login", Outcome: "failure"})
		}
		if p.NextCursor == nil {
			if len(p.Events) > 5 {
				t.Fatalf("last page has %d events", len(p.Events))
			}
			break
		}
		if len(p.Events) != 5 {
			t.Fatalf("a page before the last has %d events, want 5", len(p.Events))
		}
		query = "limit=5&cursor=" + url.QueryEscape(*p.NextCursor)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages gave %v,\nwant the first read's %v", got, want)
	}
	if wantPages := (len(want) + 4) / 5; pages != wantPages {
		t.Errorf("%d pages, want %d", pages, wantPages)
	}

	t.Run("a cursor keeps the filters it is used with", func(t *testing.T) {
		first := getAuditJSON(t, admin, "limit=3&actor=u4")
		if len(first.Events) != 1 || first.NextCursor != nil {
			t.Fatalf("got %+v", first)
		}
	})
}

// auditRecorder wraps a store to watch how the audit log is read, and to make a
// chosen page fail.
type auditRecorder struct {
	store.Store
	mu     sync.Mutex
	calls  []int                                     // the limit of each AuditPage call
	onPage func(call int, f store.AuditFilter) error // called before each one (nil: none)
}

func (r *auditRecorder) AuditPage(ctx context.Context, f store.AuditFilter, limit int) ([]store.AuditEvent, error) {
	r.mu.Lock()
	r.calls = append(r.calls, limit)
	call, hook := len(r.calls), r.onPage
	r.mu.Unlock()
	if hook != nil {
		if err := hook(call, f); err != nil {
			return nil, err
		}
	}
	return r.Store.AuditPage(ctx, f, limit)
}

// reset forgets the calls so far and sets the hook.
func (r *auditRecorder) reset(hook func(call int, f store.AuditFilter) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.onPage = nil, hook
}

func (r *auditRecorder) limits() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func newAuditRecorderApp(t *testing.T) (*testApp, *auditRecorder) {
	t.Helper()
	rec := &auditRecorder{}
	a := newTestAppOver(t, nil, func(s store.Store) store.Store { rec.Store = s; return rec })
	return a, rec
}

// readCSV parses an export, failing the test on anything encoding/csv rejects.
func readCSV(t *testing.T, body string) [][]string {
	t.Helper()
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = 7
	records, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, body)
	}
	return records
}

func TestAdminAuditCSV(t *testing.T) {
	a := newTestApp(t, nil)
	admin := auditAdmin(t, a)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 123456789, time.UTC)
	tricky := []struct{ actor, detail, wantActor, wantDetail string }{
		{`carol, the admin`, `key 3 "CI, deploy"`, `carol, the admin`, `key 3 "CI, deploy"`},
		{`"quoted"`, "line one\nline two", `"quoted"`, "line one\nline two"},
		{"dave\nsmith", `a "b" c`, "dave\nsmith", `a "b" c`},
		{`=HYPERLINK("http://evil.example","x")`, "=1+1", `'=HYPERLINK("http://evil.example","x")`, "'=1+1"},
		{"+41 22", "-2+3", "'+41 22", "'-2+3"},
		{"@SUM(A1)", "\tTAB", "'@SUM(A1)", "'\tTAB"},
		{"\r=cmd", "plain = text", "'\r=cmd", "plain = text"},
		{"erin", "", "erin", ""},
	}
	for i, tr := range tricky {
		appendAudit(t, a, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: tr.actor, Action: "csv.test",
			Outcome: "success", ClientIP: "192.0.2.1", Detail: tr.detail})
	}

	for _, how := range []struct {
		name string
		req  *http.Request
	}{
		{"with the download link", request("GET", "/admin/audit?format=csv&action=csv.test", "", "Accept", "text/html,*/*;q=0.8")},
		{"with Accept: text/csv", request("GET", "/admin/audit?action=csv.test", "", "Accept", "text/csv")},
	} {
		t.Run(how.name, func(t *testing.T) {
			resp, body := admin.do(t, how.req)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="audit.csv"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			if !strings.Contains(resp.Header.Get("Vary"), "Accept") {
				t.Errorf("Vary %q", resp.Header.Get("Vary"))
			}
			if !strings.HasPrefix(body, "id,at,actor,action,outcome,client_ip,detail\n") {
				t.Errorf("no header row: %q", body[:min(len(body), 80)])
			}
			records := readCSV(t, body)
			if len(records) != len(tricky)+1 {
				t.Fatalf("%d records, want %d", len(records), len(tricky)+1)
			}
			for i, rec := range records[1:] {
				tr := tricky[len(tricky)-1-i] // newest first
				at := t0.Add(time.Duration(len(tricky)-1-i) * time.Second).Format(time.RFC3339Nano)
				want := []string{rec[0], at, tr.wantActor, "csv.test", "success", "192.0.2.1", tr.wantDetail}
				if _, err := strconv.ParseInt(rec[0], 10, 64); err != nil || !slices.Equal(rec, want) {
					t.Errorf("record %d = %q,\nwant %q", i+1, rec, want)
				}
			}
		})
	}

	t.Run("the export ignores the page size", func(t *testing.T) {
		_, body := admin.do(t, request("GET", "/admin/audit?format=csv&action=csv.test&limit=2", ""))
		if n := len(readCSV(t, body)); n != len(tricky)+1 {
			t.Errorf("%d records, want %d", n, len(tricky)+1)
		}
	})

	t.Run("filters apply to the export", func(t *testing.T) {
		_, body := admin.do(t, request("GET", "/admin/audit?format=csv&actor=erin", ""))
		records := readCSV(t, body)
		if len(records) != 2 || records[1][2] != "erin" {
			t.Errorf("got %q", records)
		}
	})

	t.Run("an export is audited with the admin as actor", func(t *testing.T) {
		p := getAuditJSON(t, admin, "action=audit.export&limit=1")
		if len(p.Events) != 1 || p.Events[0].Actor != "admin" || p.Events[0].Outcome != "success" ||
			p.Events[0].Detail != `1 events (actor="erin")` {
			t.Errorf("got %+v", p.Events)
		}
	})

	t.Run("a JSON client still gets JSON", func(t *testing.T) {
		resp, _ := admin.do(t, request("GET", "/admin/audit?action=csv.test", "", "Accept", "application/json, text/csv;q=0.5"))
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
	})
}

// lineCounter is a client that counts the CSV lines it has received.
type lineCounter struct {
	mu    sync.Mutex
	lines int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines += bytes.Count(p, []byte("\n"))
	return len(p), nil
}

func (l *lineCounter) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

// An export of 20,000 events reads them from the store in pages of 500, each one
// sent on before the next is read: the handler never holds more than one page.
func TestAdminAuditCSVStreamsPageByPage(t *testing.T) {
	const total = 20000
	a, rec := newAuditRecorderApp(t)
	admin := auditAdmin(t, a)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range total {
		appendAudit(t, a, store.AuditEvent{At: t0.Add(time.Duration(i/3) * time.Millisecond), Actor: fmt.Sprintf("u%d", i),
			Action: "bulk", Outcome: "success", ClientIP: "10.0.0.1"})
	}
	wantCalls := total/auth.AuditExportPage + 1 // the last full page is followed by an empty one

	t.Run("the route asks the store page by page", func(t *testing.T) {
		rec.reset(nil)
		resp, body := admin.do(t, request("GET", "/admin/audit?format=csv&action=bulk", ""))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %.200s", resp.StatusCode, body)
		}
		records := readCSV(t, body)
		if len(records) != total+1 {
			t.Fatalf("%d records, want %d", len(records), total+1)
		}
		seen := map[string]bool{}
		for _, r := range records[1:] {
			if seen[r[0]] {
				t.Fatalf("event %s exported twice", r[0])
			}
			seen[r[0]] = true
		}
		calls := rec.limits()
		if len(calls) != wantCalls {
			t.Errorf("the store was asked %d times, want %d", len(calls), wantCalls)
		}
		for i, limit := range calls {
			if limit > auth.AuditExportPage {
				t.Errorf("call %d asked for %d events, more than a page", i+1, limit)
			}
		}
	})

	t.Run("each page reaches the client before the next is read", func(t *testing.T) {
		client := &lineCounter{}
		var mu sync.Mutex
		linesAtCall := map[int]int{}
		rec.reset(func(call int, _ store.AuditFilter) error {
			mu.Lock()
			defer mu.Unlock()
			linesAtCall[call] = client.count()
			return nil
		})
		ex := a.auth.ExportAudit(store.AuditFilter{Action: "bulk"})
		first, err := ex.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s := &server{auth: a.auth, log: slog.New(slog.DiscardHandler)}
		w := bufio.NewWriterSize(client, 4096) // fasthttp's stream buffer
		s.streamAuditCSV(w, auditExport{ctx: t.Context(), export: ex, first: first, actor: "admin"})
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := client.count(); got != total+1 {
			t.Fatalf("%d lines, want %d", got, total+1)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(linesAtCall) != wantCalls {
			t.Fatalf("%d calls, want %d", len(linesAtCall), wantCalls)
		}
		for call := 2; call <= wantCalls; call++ {
			// The header and every page before this call are out already.
			if want := 1 + (call-1)*auth.AuditExportPage; linesAtCall[call] < want {
				t.Errorf("page %d was read when the client had %d lines, want at least %d", call, linesAtCall[call], want)
			}
		}
	})
}

// A download that cannot be completed is cut off, never ended as if it were
// whole, and the failure is logged and audited; a database that fails before
// the download starts gets the ordinary error.
func TestAdminAuditCSVFailures(t *testing.T) {
	a, rec := newAuditRecorderApp(t)
	base := a.serve(t)
	admin := auditAdmin(t, a)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1200 { // three pages
		appendAudit(t, a, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Millisecond), Actor: "u", Action: "bulk", Outcome: "success"})
	}
	get := func(t *testing.T) (*http.Response, []byte, error) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), "GET", base+"/admin/audit?format=csv&action=bulk", nil)
		for _, ck := range admin.jar {
			req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp, body, err
	}
	failing := func(fail func() error) func(int, store.AuditFilter) error {
		return func(call int, f store.AuditFilter) error {
			if f.Action == "bulk" && call == 3 {
				return fail()
			}
			return nil
		}
	}

	for _, tt := range []struct {
		name string
		fail func() error
		log  string
	}{
		{"a database error mid-way", func() error { return apperr.New(apperr.KindUnavailable, "database unavailable") }, "audit export failed"},
		{"a panic mid-way", func() error { panic("boom") }, "audit export panicked"},
	} {
		t.Run(tt.name+" cuts the download off", func(t *testing.T) {
			rec.reset(failing(tt.fail))
			resp, body, err := get(t)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Disposition") == "" {
				t.Fatalf("%d %v", resp.StatusCode, resp.Header)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the body: %v, want io.ErrUnexpectedEOF (a download that looks whole)", err)
			}
			if n := bytes.Count(body, []byte("\n")); n > 1+2*auth.AuditExportPage {
				t.Errorf("%d lines before the cut, more than the two pages read", n)
			}
			if !strings.Contains(a.logs.String(), tt.log) {
				t.Errorf("not logged: %s", a.logs.String())
			}
			rec.reset(nil)
			p := getAuditJSON(t, admin, "action=audit.export&limit=1")
			if len(p.Events) != 1 || p.Events[0].Outcome != "failure" || p.Events[0].Actor != "admin" ||
				!strings.HasPrefix(p.Events[0].Detail, "stopped after 1000 events") {
				t.Errorf("audited as %+v", p.Events)
			}
			// The server is still there.
			if resp, _ := http.Get(base + "/healthz"); resp == nil || resp.StatusCode != 200 {
				t.Errorf("healthz after the failure: %v", resp)
			}
		})
	}

	t.Run("a database that fails on the first page gets a 503", func(t *testing.T) {
		rec.reset(func(int, store.AuditFilter) error { return apperr.New(apperr.KindUnavailable, "database unavailable") })
		resp, body, err := get(t)
		if err != nil || resp.StatusCode != 503 || resp.Header.Get("Content-Disposition") != "" {
			t.Fatalf("%d %v %s %v", resp.StatusCode, resp.Header, body, err)
		}
		if envelope(t, string(body)).Type != "service_unavailable_error" {
			t.Errorf("body %s", body)
		}
	})

	t.Run("a complete download ends properly", func(t *testing.T) {
		rec.reset(nil)
		resp, body, err := get(t)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%d %v", resp.StatusCode, err)
		}
		if n := len(readCSV(t, string(body))); n != 1201 {
			t.Errorf("%d records, want 1201", n)
		}
	})
}

func TestAdminAuditPages(t *testing.T) {
	a := newTestApp(t, nil)
	admin := a.client()
	admin.login(t, "admin", "supersecret")
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 7 {
		appendAudit(t, a, store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "carol", Action: "key.create",
			Outcome: "success", ClientIP: "192.0.2.7", Detail: fmt.Sprintf("event <%d>", i)})
	}

	t.Run("the page shows the filters, the events and the download link", func(t *testing.T) {
		resp, body := admin.page(t, "/admin/audit?actor=carol&limit=3")
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		mustContain(t, body, "<h1>Audit log</h1>", `href="/admin/audit" aria-current="page">Audit</a>`,
			`name="actor" type="text"`, `value="carol"`, `value="3"`, "event &lt;6&gt;", "event &lt;4&gt;",
			`href="/admin/audit?actor=carol&amp;format=csv"`, `>Download CSV</a>`, `id="audit-more"`, `Older events`)
		mustNotContain(t, body, "event &lt;3&gt;", "Back to the newest")
	})

	t.Run("without JavaScript, the next page is a whole page", func(t *testing.T) {
		_, first := admin.page(t, "/admin/audit?actor=carol&limit=3")
		next := nextLink(t, first)
		resp, body := admin.page(t, next)
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, body, "<html", "event &lt;3&gt;", "event &lt;1&gt;", `value="carol"`, "Back to the newest", `href="/admin/audit?actor=carol&amp;limit=3"`)
		mustNotContain(t, body, "event &lt;4&gt;", "event &lt;0&gt;")
	})

	t.Run("htmx gets the next rows only, ending with the next link", func(t *testing.T) {
		_, first := admin.page(t, "/admin/audit?actor=carol&limit=3")
		resp, body := admin.do(t, request("GET", nextLink(t, first), "", "HX-Request", "true"))
		if resp.StatusCode != 200 {
			t.Fatalf("%d", resp.StatusCode)
		}
		if !strings.HasPrefix(strings.TrimSpace(body), "<tr>") {
			t.Errorf("not table rows: %s", body)
		}
		mustContain(t, body, "event &lt;3&gt;", "event &lt;1&gt;", `id="audit-more"`, `hx-target="#audit-more"`)
		mustNotContain(t, body, "<html", "<table", "event &lt;4&gt;")
		// The last page has no next link.
		_, last := admin.do(t, request("GET", nextLink(t, body), "", "HX-Request", "true"))
		mustContain(t, last, "event &lt;0&gt;")
		mustNotContain(t, last, "audit-more")
	})

	t.Run("a bad filter comes back in the form", func(t *testing.T) {
		resp, body := admin.page(t, "/admin/audit?actor=carol&since=yesterday")
		if resp.StatusCode != 422 {
			t.Fatalf("%d", resp.StatusCode)
		}
		mustContain(t, body, "<html", "Please correct the marked fields.", `id="audit-since" name="since"`,
			`value="yesterday" aria-invalid="true"`, "From must be an RFC 3339 time", `value="carol"`)
		mustNotContain(t, body, "audit-rows")
	})

	t.Run("a bad cursor from htmx is shown in the filter form", func(t *testing.T) {
		resp, body := admin.do(t, request("GET", "/admin/audit?cursor=nope", "", "HX-Request", "true"))
		if resp.StatusCode != 422 || resp.Header.Get("HX-Retarget") != "#audit-filter" {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		mustContain(t, body, `id="audit-filter"`, "The page link is not a next_cursor this API gave")
		mustNotContain(t, body, "<html")
	})

	t.Run("no events is said so", func(t *testing.T) {
		_, body := admin.page(t, "/admin/audit?actor=nobody")
		mustContain(t, body, "No events match these filters.")
	})

	t.Run("a user's nav has no Audit link", func(t *testing.T) {
		alice := a.client()
		alice.login(t, "alice", "password123")
		_, body := alice.page(t, "/dashboard")
		mustNotContain(t, body, `href="/admin/audit"`)
		mustContain(t, body, "Your recent activity")
	})
}

// nextLink is the href of the "Older events" link.
func nextLink(t *testing.T, body string) string {
	t.Helper()
	_, rest, ok := strings.Cut(body, `<tr id="audit-more">`)
	if !ok {
		t.Fatalf("no next link in %s", body)
	}
	_, rest, _ = strings.Cut(rest, `href="`)
	href, _, _ := strings.Cut(rest, `"`)
	return strings.ReplaceAll(href, "&amp;", "&")
}
