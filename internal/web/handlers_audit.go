package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/store"
)

// auditForm is the audit log's filter form: a GET form, so a bad filter comes back
// in it with the field marked (inForm reads the query string as form values).
var auditForm = &form{id: "audit-filter", view: view{page: pageAdminAudit, fragment: fragAuditFilter},
	title: "Audit log", nav: "audit", fields: []string{"actor", "action", "outcome", "since", "until", "limit"}}

const mimeTextCSV = "text/csv"

// auditEventResponse is one event as GET /admin/audit gives it.
type auditEventResponse struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Outcome  string    `json:"outcome"`
	ClientIP string    `json:"client_ip"`
	Detail   string    `json:"detail"`
}

type auditPageResponse struct {
	Events     []auditEventResponse `json:"events"`
	NextCursor *string              `json:"next_cursor"` // null on the last page
}

// auditPageView is what the page, and the rows htmx fetches for "older events", show.
type auditPageView struct {
	Events   []auditEventResponse
	Paged    bool   // this is not the first page
	FirstURL string // the first page
	NextURL  string // the next page ("" on the last)
	CSVURL   string // everything the filters match, as CSV
}

// GET /admin/audit: the audit log, newest first, a page at a time, by actor,
// action, outcome and time; JSON, a page (htmx: the next rows), or with
// Accept: text/csv or ?format=csv everything the filters match, streamed.
func (s *server) handleAdminAudit(c *fiber.Ctx) error {
	c.Vary(fiber.HeaderAccept)
	asCSV, err := wantsCSV(c)
	if err != nil {
		return err
	}
	params := auth.AuditParams{Actor: c.Query("actor"), Action: c.Query("action"), Outcome: c.Query("outcome"),
		Since: c.Query("since"), Until: c.Query("until"), Limit: c.Query("limit"), Cursor: c.Query("cursor")}
	q, err := auth.ParseAuditQuery(params)
	if err != nil {
		return err
	}
	if asCSV {
		return s.exportAuditCSV(c, q.Filter)
	}
	events, next, err := s.auth.AuditPage(c.UserContext(), q)
	if err != nil {
		return err
	}
	out := make([]auditEventResponse, 0, len(events))
	for _, e := range events {
		out = append(out, auditEventResponse{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Outcome: e.Outcome,
			ClientIP: e.ClientIP, Detail: e.Detail})
	}
	if browser(c) {
		data := s.viewData(c, auditForm.title, auditForm.nav)
		data.Form.Values = map[string]string{"actor": params.Actor, "action": params.Action, "outcome": params.Outcome,
			"since": params.Since, "until": params.Until, "limit": params.Limit}
		page := auditPageView{Events: out, Paged: params.Cursor != "", FirstURL: auditURL(params, "", false),
			CSVURL: auditURL(params, "", true)}
		if next != "" {
			page.NextURL = auditURL(params, next, false)
		}
		data.Page = page
		return s.render(c, fiber.StatusOK, view{page: pageAdminAudit, fragment: fragAuditRows}, data)
	}
	resp := auditPageResponse{Events: out}
	if next != "" {
		resp.NextCursor = &next
	}
	return c.JSON(resp)
}

// wantsCSV reports whether the client asked for CSV: ?format=csv (the page's
// download link) or an Accept that prefers text/csv.
func wantsCSV(c *fiber.Ctx) (bool, error) {
	switch c.Query("format") {
	case "csv":
		return true, nil
	case "":
		return c.Get(fiber.HeaderAccept) != "" &&
			c.Accepts(fiber.MIMEApplicationJSON, fiber.MIMETextHTML, mimeTextCSV) == mimeTextCSV, nil
	}
	return false, apperr.Validation("Validation error", apperr.FieldError{Field: "format", Message: "must be csv, or absent"})
}

// auditURL is the audit log with the same filters: the page at cursor ("" for the
// first), or the CSV.
func auditURL(p auth.AuditParams, cursor string, asCSV bool) string {
	v := url.Values{}
	for _, kv := range [][2]string{{"actor", p.Actor}, {"action", p.Action}, {"outcome", p.Outcome},
		{"since", p.Since}, {"until", p.Until}} {
		if kv[1] != "" {
			v.Set(kv[0], kv[1])
		}
	}
	switch {
	case asCSV: // everything: no page size, no position
		v.Set("format", "csv")
	default:
		if p.Limit != "" {
			v.Set("limit", p.Limit)
		}
		if cursor != "" {
			v.Set("cursor", cursor)
		}
	}
	if len(v) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + v.Encode()
}

// csvCell keeps a spreadsheet from running a cell as a formula (OWASP "CSV
// Injection"): text starting with = + - @, a tab or a carriage return gets a
// leading single quote. encoding/csv does the RFC 4180 quoting.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditExport is what the streamed CSV needs once the handler has returned and
// its fiber.Ctx is gone.
type auditExport struct {
	ctx       context.Context
	export    *auth.AuditExport
	first     []store.AuditEvent
	conn      net.Conn // closed to abort a download that cannot be completed
	requestID string
	actor     string
	clientIP  string
	filter    store.AuditFilter
}

// exportAuditCSV answers with every event f selects as CSV, streamed: the first
// page is read here, so that a database that does not answer gets an ordinary
// error; the rest is read a page at a time while the body is being sent.
func (s *server) exportAuditCSV(c *fiber.Ctx, f store.AuditFilter) error {
	p, _ := principal(c)
	ex := auditExport{
		// The request's context ends with the handler; the stream outlives it.
		ctx:       context.WithoutCancel(c.UserContext()),
		export:    s.auth.ExportAudit(f),
		conn:      c.Context().Conn(),
		requestID: requestID(c),
		actor:     p.Username,
		clientIP:  s.clientIP(c),
		filter:    f,
	}
	if c.Method() != fiber.MethodHead {
		first, err := ex.export.Next(c.UserContext())
		if err != nil {
			return err // before any header of the download is set
		}
		ex.first = first
		c.Context().SetBodyStreamWriter(func(w *bufio.Writer) { s.streamAuditCSV(w, ex) })
	}
	c.Set(fiber.HeaderContentType, mimeTextCSV+"; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="audit.csv"`)
	return nil
}

// errClientGone marks a write that failed: the client stopped reading.
var errClientGone = errors.New("the client stopped reading")

// streamAuditCSV writes the export to w, flushing after every page. It runs on a
// goroutine of its own (fasthttp's stream writer), so it recovers its own panics.
// A download that cannot be completed is cut off by closing the connection before
// the chunked body's last chunk, so the client sees a failed download rather than
// a short file that looks whole. Either way the export is audited.
func (s *server) streamAuditCSV(w *bufio.Writer, ex auditExport) {
	n, err := writeAuditCSV(w, ex)
	detail := fmt.Sprintf("%d events%s", n, describeAuditFilter(ex.filter))
	if err != nil {
		if errors.Is(err, errClientGone) {
			s.log.WarnContext(ex.ctx, "audit export cut off by the client", "request_id", ex.requestID, "events", n)
		} else {
			s.log.ErrorContext(ex.ctx, "audit export failed", "request_id", ex.requestID, "events", n, "err", err)
		}
		s.auth.Audit(ex.ctx, auditEvent(ex.actor, "audit.export", ex.clientIP, "failure", "stopped after "+detail))
		// Last, so that whoever sees the download fail finds it logged and audited.
		if ex.conn != nil {
			_ = ex.conn.Close()
		}
		return
	}
	// Before the body's last chunk: a client holding the whole file finds it audited.
	s.auth.Audit(ex.ctx, auditEvent(ex.actor, "audit.export", ex.clientIP, "success", detail))
}

// writeAuditCSV writes the header and every page, returning how many events it wrote.
func writeAuditCSV(w *bufio.Writer, ex auditExport) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("audit export panicked: %v", r)
		}
	}()
	// RFC 4180 quoting, but lines end in LF: with UseCRLF, encoding/csv would
	// drop a lone CR inside a value, and an audit export must not change one.
	cw := csv.NewWriter(w)
	record := []string{"id", "at", "actor", "action", "outcome", "client_ip", "detail"}
	if err := cw.Write(record); err != nil {
		return 0, errors.Join(errClientGone, err)
	}
	page := ex.first
	for len(page) > 0 {
		for _, e := range page {
			record[0] = strconv.FormatInt(e.ID, 10)
			record[1] = e.At.UTC().Format(time.RFC3339Nano)
			record[2], record[3], record[4] = csvCell(e.Actor), csvCell(e.Action), csvCell(e.Outcome)
			record[5], record[6] = csvCell(e.ClientIP), csvCell(e.Detail)
			if err := cw.Write(record); err != nil {
				return n, errors.Join(errClientGone, err)
			}
		}
		// Out to the client before the next page is read: one page in memory.
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, errors.Join(errClientGone, err)
		}
		n += len(page)
		if page, err = ex.export.Next(ex.ctx); err != nil {
			return n, err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, errors.Join(errClientGone, err)
	}
	return n, nil
}

// describeAuditFilter names the filters of an export for its audit event.
func describeAuditFilter(f store.AuditFilter) string {
	var parts []string
	for _, kv := range [][2]string{{"actor", f.Actor}, {"action", f.Action}, {"outcome", f.Outcome}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+strconv.Quote(kv[1]))
		}
	}
	if !f.Since.IsZero() {
		parts = append(parts, "since="+f.Since.Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		parts = append(parts, "until="+f.Until.Format(time.RFC3339Nano))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
