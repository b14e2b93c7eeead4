package auth

import (
	"context"
	"encoding/base64"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// Pages of the audit log.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
	// AuditExportPage is how many events an export reads from the database at a
	// time: it holds one such page, never the whole result.
	AuditExportPage = 500
	// maxAuditFilterBytes bounds a text filter: longer than anything recorded.
	maxAuditFilterBytes = 256
)

// AuditParams is a query of the audit log as a client wrote it; ParseAuditQuery
// checks it.
type AuditParams struct {
	Actor, Action, Outcome string
	Since, Until           string // RFC 3339
	Limit                  string // 1..MaxAuditLimit; empty for DefaultAuditLimit
	Cursor                 string // a next_cursor from an earlier page
}

// AuditQuery is a checked query: the events Filter selects, Limit at a time.
type AuditQuery struct {
	Filter store.AuditFilter
	Limit  int
}

// ParseAuditQuery checks every parameter and reports all that are wrong at once,
// each on its field.
func ParseAuditQuery(p AuditParams) (AuditQuery, error) {
	q := AuditQuery{Limit: DefaultAuditLimit}
	var fields []apperr.FieldError
	bad := func(field, message string) {
		fields = append(fields, apperr.FieldError{Field: field, Message: message})
	}

	for _, f := range []struct {
		name  string
		value string
		into  *string
	}{{"actor", p.Actor, &q.Filter.Actor}, {"action", p.Action, &q.Filter.Action}} {
		// Nothing recorded holds a control character (PostgreSQL refuses NUL
		// outright), so such a filter is a mistake, not a search.
		if len(f.value) > maxAuditFilterBytes || !utf8.ValidString(f.value) || strings.IndexFunc(f.value, unicode.IsControl) >= 0 {
			bad(f.name, "must be at most 256 bytes of text without control characters")
			continue
		}
		*f.into = f.value
	}
	switch p.Outcome {
	case "", "success", "failure":
		q.Filter.Outcome = p.Outcome
	default:
		bad("outcome", "must be success or failure")
	}
	for _, f := range []struct {
		name  string
		value string
		into  *time.Time
	}{{"since", p.Since, &q.Filter.Since}, {"until", p.Until, &q.Filter.Until}} {
		if f.value == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, f.value)
		if err != nil {
			bad(f.name, "must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			continue
		}
		*f.into = t.UTC()
	}
	if s, u := q.Filter.Since, q.Filter.Until; !s.IsZero() && !u.IsZero() && s.After(u) {
		bad("since", "must not be after until")
	}
	// Times are stored as int64 nanoseconds (1970 to 2262): a bound outside that
	// range means the same as the nearest end of it, and must not overflow.
	for _, t := range []*time.Time{&q.Filter.Since, &q.Filter.Until} {
		if !t.IsZero() {
			*t = clampToNanos(*t)
		}
	}
	if p.Limit != "" {
		n, err := strconv.Atoi(p.Limit)
		if err != nil || n < 1 || n > MaxAuditLimit {
			bad("limit", "must be a whole number from 1 to 500")
		} else {
			q.Limit = n
		}
	}
	if p.Cursor != "" {
		pos, ok := decodeAuditCursor(p.Cursor)
		if !ok {
			bad("cursor", "is not a next_cursor this API gave")
		} else {
			q.Filter.Before = &pos
		}
	}
	if len(fields) > 0 {
		return AuditQuery{}, apperr.Validation("Validation error", fields...)
	}
	return q, nil
}

func clampToNanos(t time.Time) time.Time {
	lo, hi := time.Unix(0, 0).UTC(), time.Unix(0, math.MaxInt64).UTC()
	switch {
	case t.Before(lo):
		return lo
	case t.After(hi):
		return hi
	}
	return t
}

// An audit cursor is base64url("at:id"), at in unix nanoseconds: opaque to
// clients, and it names a place in the log, not an offset, so it stays right
// however many events are added.
func encodeAuditCursor(e store.AuditEvent) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(e.At.UnixNano(), 10) + ":" + strconv.FormatInt(e.ID, 10)))
}

// decodeAuditCursor accepts exactly what encodeAuditCursor makes.
func decodeAuditCursor(s string) (store.AuditPosition, bool) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return store.AuditPosition{}, false
	}
	atText, idText, ok := strings.Cut(string(raw), ":")
	if !ok {
		return store.AuditPosition{}, false
	}
	at, err1 := strconv.ParseInt(atText, 10, 64)
	id, err2 := strconv.ParseInt(idText, 10, 64)
	if err1 != nil || err2 != nil || at < 0 || id < 1 ||
		strconv.FormatInt(at, 10) != atText || strconv.FormatInt(id, 10) != idText {
		return store.AuditPosition{}, false
	}
	return store.AuditPosition{At: time.Unix(0, at).UTC(), ID: id}, true
}

// AuditPage returns one page of the events q selects, newest first, and the cursor
// of the next page ("" on the last).
func (s *Service) AuditPage(ctx context.Context, q AuditQuery) ([]store.AuditEvent, string, error) {
	// One more than the page tells whether another page follows.
	events, err := s.store.AuditPage(ctx, q.Filter, q.Limit+1)
	if err != nil {
		return nil, "", err
	}
	if len(events) <= q.Limit {
		return events, "", nil
	}
	events = events[:q.Limit]
	return events, encodeAuditCursor(events[len(events)-1]), nil
}

// AuditExport reads every event a filter selects, newest first, one page of
// AuditExportPage at a time: whoever writes them out holds one page, never the
// whole result.
type AuditExport struct {
	store  store.Store
	filter store.AuditFilter
	done   bool
}

// ExportAudit starts an export of the events f selects (f.Before, when set, is
// where it starts).
func (s *Service) ExportAudit(f store.AuditFilter) *AuditExport {
	return &AuditExport{store: s.store, filter: f}
}

// Next reads the next page; an empty page means the export is complete.
func (e *AuditExport) Next(ctx context.Context) ([]store.AuditEvent, error) {
	if e.done {
		return nil, nil
	}
	events, err := e.store.AuditPage(ctx, e.filter, AuditExportPage)
	if err != nil {
		return nil, err
	}
	if len(events) < AuditExportPage {
		e.done = true // a short page is the last: no need to ask again
	}
	if len(events) > 0 {
		last := events[len(events)-1]
		e.filter.Before = &store.AuditPosition{At: last.At, ID: last.ID}
	}
	return events, nil
}
