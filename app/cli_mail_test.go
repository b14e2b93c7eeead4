package main

import (
	"strings"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

// `mail test --to` queues a message and, with SMTP_URL, sends it at once over SMTP.
func TestCLIMailTest(t *testing.T) {
	smtp := testenv.StartSMTP(t)
	out, err := command(t, testEnv(t, map[string]string{"SMTP_URL": smtp.URL()}), "", "mail", "test", "--to", "Ops@Example.COM")
	if err != nil || !strings.Contains(out, "sent test message") {
		t.Fatalf("out %q, err %v", out, err)
	}
	got := smtp.Wait(t, 1, 5*time.Second)
	if got[0].To[0] != "Ops@example.com" || got[0].Subject != "fiberauth test message" {
		t.Errorf("mail %+v", got[0])
	}

	out, err = command(t, testEnv(t, nil), "", "mail", "test", "--to", "ops@example.com")
	if err != nil || !strings.Contains(out, "stays in the outbox") {
		t.Errorf("without SMTP_URL: out %q, err %v", out, err)
	}
	for _, args := range [][]string{{"mail", "test"}, {"mail", "test", "--to", "not an address"}, {"mail", "send"}} {
		if _, err := command(t, testEnv(t, nil), "", args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
