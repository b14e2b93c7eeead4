// Package recovery is account recovery by email: users' addresses (normalised,
// unique ignoring case, verified through a mailed link) and password reset by a
// mailed token. Every mail it causes is written to the outbox in the same
// transaction as the token it carries; package mail sends it later, never on the
// request path. It knows nothing of HTTP.
package recovery

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	mailer "fiberauth/internal/mail"
	"fiberauth/internal/store"
)

// Lifetimes of the mailed tokens.
const (
	ResetTTL  = 30 * time.Minute
	VerifyTTL = 24 * time.Hour
)

// Bounds on what a client sends.
const (
	MaxEmailBytes = 254 // RFC 5321's limit on a forward path
	maxLoginBytes = MaxEmailBytes
	tokenBytes    = 32
	resetBatch    = 50
	resetPoll     = 2 * time.Second
)

// ErrInvalidToken is the one answer for a reset or verification link that does not
// work: unknown, used, replaced by a newer one, expired, or void since the
// password changed.
var ErrInvalidToken = apperr.Validation("This link is invalid or has expired; ask for a new one",
	apperr.FieldError{Field: "token", Message: "is invalid or has expired"})

// Options configures a Service.
type Options struct {
	Store     store.Store
	Auth      *auth.Service
	Templates *mailer.Templates
	// PublicURL is the site's origin, for the links in mail and the Message-IDs.
	PublicURL string
	// Notify, when set, is told that mail was queued (it wakes this instance's sender).
	Notify func()
	Now    func() time.Time
	Logger *slog.Logger
}

// Service verifies addresses and resets passwords.
type Service struct {
	opts    Options
	msgHost string // the right-hand side of our Message-IDs
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// New builds a Service.
func New(opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Notify == nil {
		opts.Notify = func() {}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	host := "localhost"
	if u, err := url.Parse(opts.PublicURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return &Service{opts: opts, msgHost: host, wake: make(chan struct{}, 1)}
}

// Start runs the worker that handles reset requests until Stop: at once, then when
// a request comes in here, and every resetPoll for those of other instances.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(resetPoll)
		defer ticker.Stop()
		for {
			if _, err := s.ProcessResetRequests(ctx); err != nil && ctx.Err() == nil {
				s.opts.Logger.WarnContext(ctx, "password reset requests: reading them failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-ticker.C:
			}
		}
	}()
}

// Stop ends the worker, waiting for the request under way.
func (s *Service) Stop() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
		s.cancel = nil
	}
}

func (s *Service) wakeWorker() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// NormalizeEmail checks an address with net/mail and returns it as stored: trimmed,
// the domain in lower case. A display name, comments, a missing domain or a
// domain without a dot are refused: it is a bare address or nothing.
func NormalizeEmail(raw string) (string, error) {
	bad := apperr.Validation("Validation error", apperr.FieldError{Field: "email", Message: "must be an email address such as name@example.com"})
	raw = strings.TrimSpace(raw)
	if raw == "" || len(raw) > MaxEmailBytes || !utf8.ValidString(raw) || strings.IndexFunc(raw, unicode.IsControl) >= 0 {
		return "", bad
	}
	addr, err := mail.ParseAddress(raw)
	if err != nil || addr.Name != "" || addr.Address != raw {
		return "", bad
	}
	at := strings.LastIndexByte(addr.Address, '@')
	local, domain := addr.Address[:at], strings.ToLower(addr.Address[at+1:])
	if local == "" || !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	return local + "@" + domain, nil
}

// newToken is a fresh token for a link and the digest it is stored as.
func newToken() (token, digest string) {
	b := make([]byte, tokenBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenDigest(token)
}

// TokenDigest is how a mailed token is stored: lowercase hex SHA-256.
func TokenDigest(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormedToken filters out what cannot be one of our tokens before any lookup.
func wellFormedToken(token string) bool {
	if len(token) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// message renders a mail into an outbox row with a fresh Message-ID.
func (s *Service) message(to, name string, data any) (store.OutboxMessage, error) {
	r, err := s.opts.Templates.Render(name, data)
	if err != nil {
		return store.OutboxMessage{}, apperr.Wrap(apperr.KindInternal, "could not write the mail", err)
	}
	return store.OutboxMessage{MessageID: strings.ToLower(rand.Text()) + "@" + s.msgHost, To: to,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML}, nil
}

func (s *Service) link(path, token string) string {
	return s.opts.PublicURL + path + "?token=" + url.QueryEscape(token)
}

type linkMail struct {
	Username, Email, Link string
}

// Register creates a user with an optional address; with one, its verification
// mail is queued in the same transaction.
func (s *Service) Register(ctx context.Context, username, password, email string) (store.User, error) {
	if email == "" {
		return s.opts.Auth.CreateUser(ctx, username, password, store.RoleUser)
	}
	normal, emailErr := NormalizeEmail(email)
	u, err := s.opts.Auth.PrepareUser(username, password, store.RoleUser)
	if err = joinValidation(err, emailErr); err != nil {
		return store.User{}, err
	}
	u.Email = normal
	token, digest := newToken()
	m, err := s.message(normal, "verify", linkMail{Username: u.Username, Email: normal, Link: s.link("/account/email/verify", token)})
	if err != nil {
		return store.User{}, err
	}
	t := store.EmailToken{Purpose: store.TokenVerify, Digest: digest, Email: normal, ExpiresAt: s.opts.Now().Add(VerifyTTL)}
	if err := s.opts.Store.CreateUserWithEmail(ctx, &u, t, m); err != nil {
		return store.User{}, err
	}
	s.opts.Notify()
	return u, nil
}

// joinValidation puts the field errors of two validations into one.
func joinValidation(a, b error) error {
	var fields []apperr.FieldError
	for _, err := range []error{a, b} {
		if err == nil {
			continue
		}
		ae, ok := err.(*apperr.Error)
		if !ok || ae.Kind != apperr.KindValidation {
			return err
		}
		fields = append(fields, ae.Fields...)
	}
	if len(fields) == 0 {
		return nil
	}
	return apperr.Validation("Validation error", fields...)
}

// ChangeEmail gives the user a new, unverified address and queues its
// verification mail. The address the user has and has verified is left as it is.
func (s *Service) ChangeEmail(ctx context.Context, actor auth.Principal, email, clientIP string) error {
	normal, err := NormalizeEmail(email)
	if err != nil {
		return err
	}
	u, err := s.opts.Store.UserByID(ctx, actor.UserID)
	if err != nil {
		return err
	}
	if strings.EqualFold(u.Email, normal) && u.EmailVerifiedAt != nil {
		return nil
	}
	token, digest := newToken()
	m, err := s.message(normal, "verify", linkMail{Username: u.Username, Email: normal, Link: s.link("/account/email/verify", token)})
	if err != nil {
		return err
	}
	t := store.EmailToken{Purpose: store.TokenVerify, Digest: digest, Email: normal, ExpiresAt: s.opts.Now().Add(VerifyTTL)}
	if err := s.opts.Store.SetEmail(ctx, u.ID, t, m); err != nil {
		if apperr.Is(err, apperr.KindConflict) {
			s.audit(ctx, u.Username, "email.change", clientIP, "failure", "address in use")
		}
		return err
	}
	s.audit(ctx, u.Username, "email.change", clientIP, "success", "verification mail queued")
	s.opts.Notify()
	return nil
}

// VerifyEmail spends a verification token and marks its address verified.
func (s *Service) VerifyEmail(ctx context.Context, token, clientIP string) (store.User, error) {
	if !wellFormedToken(token) {
		return store.User{}, ErrInvalidToken
	}
	u, err := s.opts.Store.VerifyEmail(ctx, TokenDigest(token), s.opts.Now().UTC())
	if apperr.Is(err, apperr.KindNotFound) {
		s.audit(ctx, "", "email.verify", clientIP, "failure", "invalid or expired link")
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, u.Username, "email.verify", clientIP, "success", "")
	return u, nil
}

// RequestReset takes a request for a reset link for the account login names (a
// username, or an address). It only records the request, as typed: that is all
// the work done while the client waits, the same for every login, so neither the
// answer nor its time tells whether the account exists. The worker (Start, or
// ProcessResetRequests) looks it up and queues the mail.
func (s *Service) RequestReset(ctx context.Context, login, clientIP string) error {
	login = strings.TrimSpace(login)
	if len(login) > maxLoginBytes {
		login = login[:maxLoginBytes] // nothing that long exists; keep the row bounded
	}
	if err := s.opts.Store.AddResetRequest(ctx, strings.ToValidUTF8(login, "?"), clientIP); err != nil {
		return err
	}
	s.wakeWorker()
	return nil
}

// ProcessResetRequests handles the waiting reset requests and reports how many.
func (s *Service) ProcessResetRequests(ctx context.Context) (int, error) {
	total := 0
	for {
		batch, err := s.opts.Store.TakeResetRequests(ctx, resetBatch)
		if err != nil {
			return total, err
		}
		for _, r := range batch {
			if err := s.resolveReset(ctx, r.Login, r.ClientIP); err != nil {
				// The request is gone: its owner asks again.
				s.opts.Logger.ErrorContext(ctx, "password reset request dropped", "err", err)
			}
		}
		total += len(batch)
		if len(batch) < resetBatch {
			return total, nil
		}
	}
}

// resolveReset queues a reset mail for the account login names, if there is one
// with a verified address and it is not disabled.
func (s *Service) resolveReset(ctx context.Context, login, clientIP string) error {
	var (
		u   store.User
		err error
	)
	if strings.Contains(login, "@") {
		var normal string
		if normal, err = NormalizeEmail(login); err == nil {
			u, err = s.opts.Store.UserByEmail(ctx, normal)
		}
	} else if login != "" {
		u, err = s.opts.Store.UserByUsername(ctx, login)
	}
	if err != nil && !apperr.Is(err, apperr.KindNotFound) && !apperr.Is(err, apperr.KindValidation) {
		return err
	}
	if err != nil || u.ID == 0 || u.Email == "" || u.EmailVerifiedAt == nil || u.DisabledAt != nil {
		s.audit(ctx, "", "password.reset.request", clientIP, "failure", "no enabled account with a verified address matches")
		return nil
	}
	token, digest := newToken()
	m, err := s.message(u.Email, "reset", linkMail{Username: u.Username, Email: u.Email, Link: s.link("/password/reset", token)})
	if err != nil {
		return err
	}
	t := store.EmailToken{Purpose: store.TokenReset, Digest: digest, Email: u.Email, ExpiresAt: s.opts.Now().Add(ResetTTL)}
	if err := s.opts.Store.QueueReset(ctx, u.ID, t, m); err != nil {
		return err
	}
	s.audit(ctx, u.Username, "password.reset.request", clientIP, "success", "reset link queued")
	s.opts.Notify()
	return nil
}

// CheckResetToken reports whether a reset link still works (for the page that
// asks for the new password), without spending it.
func (s *Service) CheckResetToken(ctx context.Context, token string) error {
	if !wellFormedToken(token) {
		return ErrInvalidToken
	}
	_, err := s.opts.Store.ResetTokenUser(ctx, TokenDigest(token), s.opts.Now().UTC())
	if apperr.Is(err, apperr.KindNotFound) {
		return ErrInvalidToken
	}
	return err
}

// ResetPassword spends a reset token and sets the new password; every session and
// token of the user ends and every cache drops the old password (auth's
// ResetPassword), before it returns.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword, clientIP string) (store.User, error) {
	if err := s.CheckResetToken(ctx, token); err != nil {
		if apperr.Is(err, apperr.KindValidation) {
			s.audit(ctx, "", "password.reset", clientIP, "failure", "invalid or expired link")
		}
		return store.User{}, err
	}
	u, err := s.opts.Auth.ResetPassword(ctx, TokenDigest(token), newPassword)
	if apperr.Is(err, apperr.KindNotFound) {
		// Spent by a reset that ran at the same time.
		s.audit(ctx, "", "password.reset", clientIP, "failure", "invalid or expired link")
		return store.User{}, ErrInvalidToken
	}
	if err != nil {
		return store.User{}, err
	}
	s.audit(ctx, u.Username, "password.reset", clientIP, "success", "every session and token ended")
	return u, nil
}

// Account is the user as stored, address included.
func (s *Service) Account(ctx context.Context, userID int64) (store.User, error) {
	return s.opts.Store.UserByID(ctx, userID)
}

// Mailbox is the newest mail in the outbox, for the development mailbox.
func (s *Service) Mailbox(ctx context.Context, limit int) ([]store.OutboxMessage, error) {
	return s.opts.Store.ListMail(ctx, limit)
}

// QueueTest queues the operator's test message to an address.
func (s *Service) QueueTest(ctx context.Context, to string) (store.OutboxMessage, error) {
	normal, err := NormalizeEmail(to)
	if err != nil {
		return store.OutboxMessage{}, err
	}
	m, err := s.message(normal, "test", linkMail{Email: normal, Link: s.opts.PublicURL})
	if err != nil {
		return store.OutboxMessage{}, err
	}
	if err := s.opts.Store.QueueMail(ctx, m); err != nil {
		return store.OutboxMessage{}, err
	}
	s.audit(ctx, "cli", "mail.test", "", "success", "test message queued")
	s.opts.Notify()
	return m, nil
}

func (s *Service) audit(ctx context.Context, actor, action, clientIP, outcome, detail string) {
	s.opts.Auth.Audit(ctx, store.AuditEvent{Actor: actor, Action: action, ClientIP: clientIP, Outcome: outcome, Detail: detail})
}
