package testenv

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// SMTPServer is a real SMTP server on a loopback port, in process, that keeps what
// it receives. Refuse makes it answer the next messages' DATA with an error, as a
// server in trouble does.
type SMTPServer struct {
	Addr string // host:port
	mu   sync.Mutex
	got  []Mail
	// refuse is how many more messages to refuse, and with what code.
	refuse     int
	refuseCode int
	arrived    chan struct{}
}

// Mail is one received message.
type Mail struct {
	From      string
	To        []string
	MessageID string // without angle brackets
	Subject   string
	Body      string // the raw body, all MIME parts
	Text      string // the decoded text/plain part
}

// StartSMTP starts a server that lives until the test ends.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{arrived: make(chan struct{}, 1000)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{server: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtp listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

// URL is the server as SMTP_URL names it.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr }

// Refuse answers the next n messages with code (421..554) at DATA.
func (s *SMTPServer) Refuse(n, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse, s.refuseCode = n, code
}

// Received is every message so far.
func (s *SMTPServer) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.got...)
}

// Wait waits for the n-th message to arrive, failing the test after timeout.
func (s *SMTPServer) Wait(t testing.TB, n int, timeout time.Duration) []Mail {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.Received(); len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("smtp: %d messages after %s, want %d", len(s.Received()), timeout, n)
		}
	}
}

type smtpSession struct {
	server *SMTPServer
	from   string
	to     []string
}

func (x *smtpSession) Reset()        { x.from, x.to = "", nil }
func (x *smtpSession) Logout() error { return nil }
func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.from = from
	return nil
}
func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s := x.server
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse > 0 {
		s.refuse--
		return &smtp.SMTPError{Code: s.refuseCode, EnhancedCode: smtp.EnhancedCodeNotSet, Message: "try again later"}
	}
	m := Mail{From: x.from, To: x.to, Body: string(raw)}
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		m.MessageID = strings.Trim(msg.Header.Get("Message-Id"), "<>")
		m.Subject = msg.Header.Get("Subject")
		body, _ := io.ReadAll(msg.Body)
		m.Body = string(body)
		m.Text = textPart(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), body)
	}
	s.got = append(s.got, m)
	s.arrived <- struct{}{}
	return nil
}

// textPart finds the text/plain part of a body and decodes it.
func textPart(contentType, encoding string, body []byte) string {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ""
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		r := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		for {
			part, err := r.NextPart()
			if err != nil {
				return ""
			}
			b, _ := io.ReadAll(part)
			if t := textPart(part.Header.Get("Content-Type"), part.Header.Get("Content-Transfer-Encoding"), b); t != "" {
				return t
			}
		}
	}
	if mediaType != "text/plain" {
		return ""
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		b, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body)))
		return string(b)
	case "base64":
		b, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(body)), ""))
		return string(b)
	}
	return string(body)
}
