package service

import (
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

var resetLink = regexp.MustCompile(`(http://localhost:3000/password/reset\?token=)([A-Za-z0-9_-]{43})`)

// The reset mail travels over real SMTP, and its link sets the password and ends
// the sessions of the old one.
func TestPasswordResetByRealMail(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	srv := newServer(t, testConfig(t, map[string]string{"SMTP_URL": smtp.URL()}))
	resp, _ := send(t, srv, "POST", "/login", `{"username":"alice","password":"password123"}`, "Content-Type", "application/json")
	old := sessionCookie(t, resp)

	resp, body := send(t, srv, "POST", "/password/forgot", `{"login":"Alice@Example.com"}`, "Content-Type", "application/json")
	if resp.StatusCode != 202 {
		t.Fatalf("forgot: %d %s", resp.StatusCode, body)
	}
	got := smtp.Wait(t, 1, 10*time.Second)
	if got[0].To[0] != "alice@example.com" || got[0].Subject != "Reset your fiberauth password" || got[0].MessageID == "" {
		t.Fatalf("mail %+v", got[0])
	}
	match := resetLink.FindStringSubmatch(got[0].Text)
	if match == nil {
		t.Fatalf("no reset link in %q", got[0].Text)
	}
	if !strings.Contains(got[0].Body, "text/html") {
		t.Error("no HTML part")
	}

	reset, _ := json.Marshal(map[string]string{"token": match[2], "new_password": "reset-by-mail"})
	resp, body = send(t, srv, "POST", "/password/reset", string(reset), "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("reset: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(t, srv, "GET", "/dashboard", "", "Cookie", old); resp.StatusCode != 401 {
		t.Errorf("the session from before: %d, want 401", resp.StatusCode)
	}
	if resp, _ := send(t, srv, "POST", "/login", `{"username":"alice","password":"reset-by-mail"}`, "Content-Type", "application/json"); resp.StatusCode != 200 {
		t.Errorf("login with the new password: %d", resp.StatusCode)
	}
	srv.Mail.Stop() // waits for the send under way to be recorded
	list, err := srv.Store.ListMail(t.Context(), 10)
	if err != nil || len(list) != 1 || list[0].SentAt == nil || list[0].MessageID != got[0].MessageID {
		t.Errorf("outbox %+v (%v): want the mail marked sent under its Message-ID", list, err)
	}
}

// Mail queued by an instance that stopped before it went out (here one without
// SMTP_URL) is sent by the next one on the same database, once.
func TestMailQueuedBeforeARestartIsSentAfterIt(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	cfg := testConfig(t, nil)
	first, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := send(t, first, "POST", "/password/forgot", `{"login":"bob"}`, "Content-Type", "application/json")
	if resp.StatusCode != 202 {
		t.Fatalf("forgot: %d", resp.StatusCode)
	}
	_ = first.App.Shutdown()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	cfg.SMTPURL = smtp.URL()
	second := newServer(t, cfg)
	got := smtp.Wait(t, 1, 10*time.Second)
	if got[0].To[0] != "bob@example.com" {
		t.Fatalf("mail %+v", got[0])
	}
	second.Mail.Wake()
	if _, err := second.Mail.RunOnce(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(smtp.Received()); n != 1 {
		t.Errorf("%d mails, want 1", n)
	}
}
