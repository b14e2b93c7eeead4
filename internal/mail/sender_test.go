package mail_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"fiberauth/internal/mail"
	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
	"fiberauth/views"
)

func openStore(t *testing.T, url string) store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func queue(t *testing.T, st store.Store, id string) {
	t.Helper()
	m := store.OutboxMessage{MessageID: id, To: "alice@example.com", Subject: "Hello", Text: "Hello " + id, HTML: "<p>Hello</p>"}
	if err := st.QueueMail(t.Context(), m); err != nil {
		t.Fatalf("queue: %v", err)
	}
}

func newSender(st store.Store, smtpURL string, clock *testenv.Clock) *mail.Sender {
	transport, err := mail.NewSMTP(smtpURL, "fiberauth <no-reply@example.com>")
	if err != nil {
		panic(err)
	}
	return mail.NewSender(mail.Options{Store: st, Transport: transport, Now: clock.Now, MaxAttempts: 3,
		BaseDelay: time.Minute, MaxDelay: time.Hour})
}

// A server that refuses (4xx, then 5xx) and then accepts gets the mail once, with
// the outbox's Message-ID; the retries wait for their backoff.
func TestSenderRetriesUntilTheServerAccepts(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	st := openStore(t, filepath.Join(t.TempDir(), "mail.db"))
	queue(t, st, "retry-1@example.com")
	clock := testenv.NewClock(time.Now()) // the outbox's own times are real ones
	sender := newSender(st, smtp.URL(), clock)
	smtp.Refuse(2, 451)

	ctx := t.Context()
	run := func(wantClaimed int) {
		t.Helper()
		n, err := sender.RunOnce(ctx)
		if err != nil || n != wantClaimed {
			t.Fatalf("RunOnce: claimed %d (%v), want %d", n, err, wantClaimed)
		}
	}
	run(1) // refused
	run(0) // not due again yet
	clock.Advance(time.Minute + time.Second)
	smtp.Refuse(1, 554)
	run(1) // refused again
	if got := smtp.Received(); len(got) != 0 {
		t.Fatalf("received %d before the server accepted", len(got))
	}
	clock.Advance(2*time.Minute + time.Second)
	run(1) // accepted
	run(0)
	clock.Advance(24 * time.Hour)
	run(0) // sent mail is never sent again

	got := smtp.Received()
	if len(got) != 1 || got[0].MessageID != "retry-1@example.com" || got[0].Subject != "Hello" {
		t.Fatalf("received %+v, want the one mail once with its Message-ID", got)
	}
	if !strings.Contains(got[0].Text, "Hello retry-1@example.com") {
		t.Errorf("text part %q", got[0].Text)
	}
	list, err := st.ListMail(ctx, 10)
	if err != nil || len(list) != 1 || list[0].SentAt == nil || list[0].Attempts != 2 {
		t.Fatalf("outbox %+v (%v): want sent after 2 failed attempts", list, err)
	}
}

// After MaxAttempts failures a mail is kept, with the server's answer, and not tried again.
func TestSenderGivesUpAndKeepsTheMail(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	st := openStore(t, filepath.Join(t.TempDir(), "mail.db"))
	queue(t, st, "doomed@example.com")
	clock := testenv.NewClock(time.Now())
	sender := newSender(st, smtp.URL(), clock)
	smtp.Refuse(100, 550)
	for range 5 {
		if _, err := sender.RunOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Hour)
	}
	list, err := st.ListMail(t.Context(), 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("outbox %+v (%v)", list, err)
	}
	if m := list[0]; m.Attempts != 3 || m.SentAt != nil || !strings.Contains(m.LastError, "550") {
		t.Fatalf("mail %+v: want 3 attempts, unsent, the 550 kept", m)
	}
}

// Mail queued by a process that stopped before sending it goes out from the next
// one on the same database.
func TestSenderResumesAfterARestart(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	path := filepath.Join(t.TempDir(), "mail.db")
	first, err := store.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	queue(t, first, "before-restart@example.com")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	st := openStore(t, path)
	sender := mail.NewSender(mail.Options{Store: st, Transport: mustSMTP(t, smtp.URL())})
	sender.Start()
	defer sender.Stop()
	got := smtp.Wait(t, 1, 10*time.Second)
	if got[0].MessageID != "before-restart@example.com" {
		t.Fatalf("received %+v", got)
	}
}

func mustSMTP(t *testing.T, url string) *mail.SMTP {
	t.Helper()
	tr, err := mail.NewSMTP(url, "no-reply@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// Two instances sending from one PostgreSQL outbox at once send each mail once:
// a claimed mail is leased to its claimer (FOR UPDATE SKIP LOCKED).
func TestSendersOnTwoInstancesSendEachMailOnce(t *testing.T) {
	url := testenv.PostgresURL(t)
	smtp := testenv.StartSMTP(t)
	a, b := openStore(t, url), openStore(t, url)
	const n = 30
	for i := range n {
		queue(t, a, fmt.Sprintf("m%d@example.com", i))
	}
	senders := []*mail.Sender{
		mail.NewSender(mail.Options{Store: a, Transport: mustSMTP(t, smtp.URL())}),
		mail.NewSender(mail.Options{Store: b, Transport: mustSMTP(t, smtp.URL())}),
	}
	testenv.Concurrently(4, func(i int) {
		for {
			if k, err := senders[i%2].RunOnce(context.Background()); err != nil || k == 0 {
				return
			}
		}
	})
	got := smtp.Received()
	seen := map[string]int{}
	for _, m := range got {
		seen[m.MessageID]++
	}
	if len(got) != n || len(seen) != n {
		t.Fatalf("received %d mails, %d distinct, want %d once each", len(got), len(seen), n)
	}
}

func TestBackoffDoublesUpToTheCapWithJitter(t *testing.T) {
	base, limit := time.Second, time.Minute
	for _, tt := range []struct {
		attempts int
		full     time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second}, {7, time.Minute}, {50, time.Minute}} {
		for range 20 {
			d := mail.Backoff(tt.attempts, base, limit)
			if d < tt.full/2 || d > tt.full {
				t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", tt.attempts, d, tt.full/2, tt.full)
			}
		}
	}
}

func TestTemplatesEscapeHTMLAndKeepTheSubjectOneLine(t *testing.T) {
	fsys := fstest.MapFS{
		"mail/x.txt":  {Data: []byte(`{{define "subject"}}Hi {{.Name}}{{end}}Text {{.Name}}`)},
		"mail/x.html": {Data: []byte(`<p>{{.Name}}</p>`)},
	}
	tpl, err := mail.LoadTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render("x", map[string]string{"Name": "<b>x</b>\r\nBcc: evil@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(r.Subject, "\r\n") || strings.Contains(r.HTML, "<b>") || !strings.Contains(r.Text, "<b>x</b>") {
		t.Fatalf("rendered %+v", r)
	}
	if _, err := mail.LoadTemplates(views.FS); err != nil {
		t.Fatalf("the real templates: %v", err)
	}
}
