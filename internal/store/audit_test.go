package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// auditKeys names events by actor/action/outcome, in the order given.
func auditKeys(events []AuditEvent) []string {
	keys := []string{}
	for _, e := range events {
		keys = append(keys, e.Actor+"/"+e.Action+"/"+e.Outcome)
	}
	return keys
}

func TestAuditPageFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, e := range []AuditEvent{
			{Actor: "john", Action: "login", Outcome: "success"},
			{Actor: "alice", Action: "login", Outcome: "failure"},
			{Actor: "john", Action: "key.create", Outcome: "success"},
			{Actor: "alice", Action: "login", Outcome: "success"},
			{Actor: "john", Action: "login", Outcome: "failure"},
			{Actor: "admin", Action: "admin.disable", Outcome: "success"},
		} {
			e.At, e.ClientIP = t0.Add(time.Duration(i)*time.Minute), "10.0.0.1"
			wantNoErr(t, s.AppendAudit(ctx, e))
		}
		at := func(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

		tests := []struct {
			name string
			f    AuditFilter
			want []string // newest first
		}{
			{"no filter gives every event", AuditFilter{},
				[]string{"admin/admin.disable/success", "john/login/failure", "alice/login/success",
					"john/key.create/success", "alice/login/failure", "john/login/success"}},
			{"actor alone", AuditFilter{Actor: "john"},
				[]string{"john/login/failure", "john/key.create/success", "john/login/success"}},
			{"actor is matched exactly", AuditFilter{Actor: "John"}, []string{}},
			{"action alone", AuditFilter{Action: "login"},
				[]string{"john/login/failure", "alice/login/success", "alice/login/failure", "john/login/success"}},
			{"outcome alone", AuditFilter{Outcome: "failure"},
				[]string{"john/login/failure", "alice/login/failure"}},
			{"since alone includes its own instant", AuditFilter{Since: at(4)},
				[]string{"admin/admin.disable/success", "john/login/failure"}},
			{"until alone excludes its own instant", AuditFilter{Until: at(2)},
				[]string{"alice/login/failure", "john/login/success"}},
			{"since and until", AuditFilter{Since: at(1), Until: at(4)},
				[]string{"alice/login/success", "john/key.create/success", "alice/login/failure"}},
			{"actor and action", AuditFilter{Actor: "john", Action: "login"},
				[]string{"john/login/failure", "john/login/success"}},
			{"action and outcome", AuditFilter{Action: "login", Outcome: "success"},
				[]string{"alice/login/success", "john/login/success"}},
			{"every filter at once", AuditFilter{Actor: "alice", Action: "login", Outcome: "failure", Since: at(0), Until: at(5)},
				[]string{"alice/login/failure"}},
			{"filters nothing matches", AuditFilter{Actor: "alice", Action: "key.create"}, []string{}},
			{"before a position", AuditFilter{Before: &AuditPosition{At: at(3), ID: 1 << 40}},
				[]string{"alice/login/success", "john/key.create/success", "alice/login/failure", "john/login/success"}},
			{"before a position, with a filter", AuditFilter{Actor: "john", Before: &AuditPosition{At: at(4), ID: 1 << 40}},
				[]string{"john/login/failure", "john/key.create/success", "john/login/success"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s.AuditPage(ctx, tt.f, 100)
				wantNoErr(t, err)
				if keys := auditKeys(got); !slices.Equal(keys, tt.want) {
					t.Errorf("AuditPage(%+v) = %v, want %v", tt.f, keys, tt.want)
				}
			})
		}

		t.Run("the limit bounds a page", func(t *testing.T) {
			got, err := s.AuditPage(ctx, AuditFilter{Action: "login"}, 2)
			wantNoErr(t, err)
			if keys := auditKeys(got); !slices.Equal(keys, []string{"john/login/failure", "alice/login/success"}) {
				t.Errorf("got %v", keys)
			}
		})

		t.Run("every field is read back", func(t *testing.T) {
			wantNoErr(t, s.AppendAudit(ctx, AuditEvent{At: at(10), Actor: `a, "b"`, Action: "x", ClientIP: "::1",
				Outcome: "success", Detail: "line 1\nline 2"}))
			got, err := s.AuditPage(ctx, AuditFilter{Action: "x"}, 1)
			wantNoErr(t, err)
			if len(got) != 1 || got[0].ID == 0 || !got[0].At.Equal(at(10)) || got[0].Actor != `a, "b"` ||
				got[0].ClientIP != "::1" || got[0].Detail != "line 1\nline 2" {
				t.Errorf("got %+v", got)
			}
		})
	})
}

// Pages follow one another by (at, id), so events added between two pages neither
// shift nor repeat a row, and events sharing an instant are neither lost nor
// shown twice at a page boundary.
func TestAuditPagesAreStableUnderInserts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s Store) {
		ctx := t.Context()
		// 25 events in the past, in threes sharing an instant (a page of 4 cuts
		// through ties), appended in an order that is not the time order.
		base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 25 {
			wantNoErr(t, s.AppendAudit(ctx, AuditEvent{At: base.Add(time.Duration((i*7)%25/3) * time.Second),
				Actor: fmt.Sprintf("u%02d", i), Action: "login", Outcome: "success"}))
		}
		snapshot, err := s.AuditPage(ctx, AuditFilter{}, 100)
		wantNoErr(t, err)
		if len(snapshot) != 25 {
			t.Fatalf("%d events, want 25", len(snapshot))
		}

		// page reads the log in pages of 4, calling between after each one.
		page := func(t *testing.T, f AuditFilter, between func(n int)) []AuditEvent {
			t.Helper()
			var all []AuditEvent
			for n := 0; ; n++ {
				got, err := s.AuditPage(ctx, f, 4)
				wantNoErr(t, err)
				all = append(all, got...)
				if len(got) < 4 {
					return all
				}
				last := got[len(got)-1]
				f.Before = &AuditPosition{At: last.At, ID: last.ID}
				between(n)
			}
		}
		same := func(t *testing.T, got, want []AuditEvent) {
			t.Helper()
			ids := func(es []AuditEvent) []int64 {
				var out []int64
				for _, e := range es {
					out = append(out, e.ID)
				}
				return out
			}
			if !slices.Equal(ids(got), ids(want)) {
				t.Errorf("pages gave IDs %v,\nwant the first read's %v", ids(got), ids(want))
			}
		}

		t.Run("events added between pages neither shift nor repeat rows", func(t *testing.T) {
			got := page(t, AuditFilter{}, func(n int) {
				for i := range 3 { // newer than anything read so far, as every new event is
					wantNoErr(t, s.AppendAudit(ctx, AuditEvent{Actor: fmt.Sprintf("new%d-%d", n, i), Action: "login", Outcome: "success"}))
				}
			})
			same(t, got, snapshot)
		})

		t.Run("events added concurrently neither shift nor repeat rows", func(t *testing.T) {
			var wg sync.WaitGroup
			stop := make(chan struct{})
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := s.AppendAudit(ctx, AuditEvent{Actor: fmt.Sprintf("c%d", i), Action: "login", Outcome: "failure"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
			got := page(t, AuditFilter{}, func(int) {})
			close(stop)
			wg.Wait()
			// Whatever was added before the first page was read comes first (it is
			// all newer than the 25); then exactly the 25, each once, in order.
			for i := 1; i < len(got); i++ {
				a, b := got[i-1], got[i]
				if !(b.At.Before(a.At) || b.At.Equal(a.At) && b.ID < a.ID) {
					t.Fatalf("rows %d and %d are out of order or repeated: %+v, %+v", i-1, i, a, b)
				}
			}
			if len(got) < len(snapshot) {
				t.Fatalf("%d rows, want at least %d", len(got), len(snapshot))
			}
			same(t, got[len(got)-len(snapshot):], snapshot)
		})

		t.Run("an event added at the instant of a page's last row is not shown after it", func(t *testing.T) {
			old := AuditFilter{Until: base.Add(time.Hour)} // the 25 only
			first, err := s.AuditPage(ctx, old, 4)
			wantNoErr(t, err)
			last := first[len(first)-1]
			// The same instant and a higher ID: newer in (at, id) order, so it sorts
			// before the position and must not come after it.
			wantNoErr(t, s.AppendAudit(ctx, AuditEvent{At: last.At, Actor: "tie", Action: "login", Outcome: "success"}))
			old.Before = &AuditPosition{At: last.At, ID: last.ID}
			same(t, append(first, page(t, old, func(int) {})...), snapshot)
		})
	})
}
