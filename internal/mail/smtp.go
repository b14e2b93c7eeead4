package mail

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"fiberauth/internal/store"
)

// Transport hands one mail to a mail server.
type Transport interface {
	Send(ctx context.Context, m store.OutboxMessage) error
}

// SMTP sends through the server SMTP_URL names: smtp://[user:pass@]host[:port]
// with STARTTLS whenever the server offers it (port 587 by default), or
// smtps://... with TLS from the first byte (port 465 by default).
type SMTP struct {
	host     string
	port     int
	implicit bool // smtps
	user     string
	pass     string
	from     string
	timeout  time.Duration
}

// NewSMTP reads an SMTP_URL; from is MAIL_FROM.
func NewSMTP(smtpURL, from string) (*SMTP, error) {
	u, err := url.Parse(smtpURL)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP_URL: want smtp://[user:pass@]host:port or smtps://...")
	}
	t := &SMTP{host: u.Hostname(), implicit: u.Scheme == "smtps", from: from, timeout: 15 * time.Second, port: 587}
	if t.implicit {
		t.port = 465
	}
	if p := u.Port(); p != "" {
		if t.port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("SMTP_URL: bad port %q", p)
		}
	}
	if u.User != nil {
		t.user = u.User.Username()
		t.pass, _ = u.User.Password()
	}
	return t, nil
}

// Send delivers m on a connection of its own. Its Message-ID is the outbox's, so a
// mail sent again (the server took it but we never heard) is the same message to
// every receiver that de-duplicates.
func (t *SMTP) Send(ctx context.Context, m store.OutboxMessage) error {
	msg := gomail.NewMsg()
	if err := msg.From(t.from); err != nil {
		return fmt.Errorf("MAIL_FROM: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDateWithValue(m.CreatedAt)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(t.port), gomail.WithTimeout(t.timeout)}
	if t.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if t.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(t.user), gomail.WithPassword(t.pass))
	}
	client, err := gomail.NewClient(t.host, opts...)
	if err != nil {
		return err
	}
	return client.DialAndSendWithContext(ctx, msg)
}
