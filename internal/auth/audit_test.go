package auth

import (
	"encoding/base64"
	"math"
	"strconv"
	"testing"
	"time"

	"fiberauth/internal/store"
)

func TestAuditCursor(t *testing.T) {
	t.Run("a cursor names the event it was made from", func(t *testing.T) {
		for _, e := range []store.AuditEvent{
			{ID: 1, At: time.Unix(0, 0).UTC()},
			{ID: 42, At: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)},
			{ID: math.MaxInt64, At: time.Unix(0, math.MaxInt64).UTC()},
		} {
			pos, ok := decodeAuditCursor(encodeAuditCursor(e))
			if !ok || pos.ID != e.ID || !pos.At.Equal(e.At) {
				t.Errorf("%+v came back as %+v, %v", e, pos, ok)
			}
		}
	})
	t.Run("only what encodeAuditCursor makes is a cursor", func(t *testing.T) {
		raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, c := range []string{"", "!!", raw("1"), raw("1:"), raw(":1"), raw("1:0"), raw("-1:1"), raw("1:-1"),
			raw("+1:1"), raw("01:1"), raw("1:01"), raw(" 1:1"), raw("1:1:1"), raw("9223372036854775808:1"),
			base64.URLEncoding.EncodeToString([]byte("12:5"))} {
			if pos, ok := decodeAuditCursor(c); ok {
				t.Errorf("%q decoded as %+v", c, pos)
			}
		}
	})
}

func TestParseAuditQuery(t *testing.T) {
	t.Run("no parameters select everything, 50 at a time", func(t *testing.T) {
		q, err := ParseAuditQuery(AuditParams{})
		if err != nil || q.Limit != DefaultAuditLimit || q.Filter != (store.AuditFilter{}) {
			t.Errorf("%+v %v", q, err)
		}
	})
	t.Run("times are read in any zone and kept in UTC", func(t *testing.T) {
		q, err := ParseAuditQuery(AuditParams{Since: "2026-01-02T05:04:05+02:00", Until: "2026-01-02T03:04:05.5Z"})
		if err != nil || !q.Filter.Since.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || q.Filter.Since.Location() != time.UTC ||
			!q.Filter.Until.Equal(time.Date(2026, 1, 2, 3, 4, 5, 5e8, time.UTC)) {
			t.Errorf("%+v %v", q.Filter, err)
		}
	})
	t.Run("times beyond what int64 nanoseconds hold are held to its ends", func(t *testing.T) {
		q, err := ParseAuditQuery(AuditParams{Since: "1000-01-01T00:00:00Z", Until: "9999-12-31T23:59:59Z"})
		if err != nil || q.Filter.Since.UnixNano() != 0 || q.Filter.Until.UnixNano() != math.MaxInt64 {
			t.Errorf("%+v %v", q.Filter, err)
		}
	})
}

// One page more than asked tells whether another follows: a page that exactly
// ends the log has no cursor, and following a cursor gives the rest.
func TestAuditPageCursor(t *testing.T) {
	svc, st, _ := newTestService(t, 4)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 4 {
		if err := st.AppendAudit(t.Context(), store.AuditEvent{At: t0.Add(time.Duration(i) * time.Second), Actor: "a", Action: "x", Outcome: "success"}); err != nil {
			t.Fatal(err)
		}
	}
	page := func(limit int, cursor string) ([]store.AuditEvent, string) {
		t.Helper()
		q, err := ParseAuditQuery(AuditParams{Action: "x", Limit: strconv.Itoa(limit), Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		events, next, err := svc.AuditPage(t.Context(), q)
		if err != nil {
			t.Fatal(err)
		}
		return events, next
	}
	if events, next := page(4, ""); len(events) != 4 || next != "" {
		t.Errorf("a page holding the whole log: %d events, cursor %q", len(events), next)
	}
	events, next := page(3, "")
	if len(events) != 3 || next == "" {
		t.Fatalf("%d events, cursor %q", len(events), next)
	}
	rest, last := page(3, next)
	if len(rest) != 1 || last != "" || !rest[0].At.Equal(t0) {
		t.Errorf("the rest: %+v, cursor %q", rest, last)
	}
}
