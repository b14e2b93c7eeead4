package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"fiberauth/internal/apperr"
)

// Purposes of an emailed token.
const (
	TokenVerify = "verify"
	TokenReset  = "reset"
)

// EmailToken is a token about to be mailed: only its digest is stored.
type EmailToken struct {
	Purpose   string // TokenVerify or TokenReset
	Digest    string // lowercase hex SHA-256 of the token
	Email     string // the address it goes to
	ExpiresAt time.Time
}

// OutboxMessage is one mail in the outbox.
type OutboxMessage struct {
	ID            int64
	MessageID     string // the Message-ID header, without angle brackets; unique
	To            string
	Subject       string
	Text          string
	HTML          string
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	SentAt        *time.Time
	LastError     string
}

// ResetRequest is a request for a reset link waiting to be looked at.
type ResetRequest struct {
	ID       int64
	Login    string
	ClientIP string
}

// ErrEmailTaken refuses an address another user has (ignoring case).
var ErrEmailTaken = &apperr.Error{Kind: apperr.KindConflict, Message: "Email is already in use",
	Fields: []apperr.FieldError{{Field: "email", Message: "is already in use"}}}

// ErrTokenInvalid is the one answer for a token that is unknown, used, replaced
// by a newer one, expired, or void because the password changed.
var ErrTokenInvalid = apperr.New(apperr.KindNotFound, "token not found")

// MailStore keeps email addresses, reset tokens and the mail outbox. Every write
// that causes a mail writes its outbox row in the same transaction.
type MailStore interface {
	// UserByEmail finds the user with this (normalised) address, ignoring case.
	UserByEmail(ctx context.Context, email string) (User, error)
	// CreateUserWithEmail is CreateUser plus the verification token and its mail,
	// in one transaction. ErrEmailTaken for an address in use.
	CreateUserWithEmail(ctx context.Context, u *User, verify EmailToken, m OutboxMessage) error
	// SetEmail gives the user a new, unverified address, voids their earlier
	// verification tokens, and stores the new token and its mail, in one transaction.
	SetEmail(ctx context.Context, userID int64, verify EmailToken, m OutboxMessage) error
	// VerifyEmail spends a live verification token and marks its address verified
	// (if it is still the user's). ErrTokenInvalid otherwise.
	VerifyEmail(ctx context.Context, digest string, at time.Time) (User, error)
	// AddResetRequest records a request for a reset link, as typed, for the
	// recovery worker (TakeResetRequests).
	AddResetRequest(ctx context.Context, login, clientIP string) error
	// TakeResetRequests removes and returns up to limit waiting requests, oldest
	// first; two instances taking at once get different ones.
	TakeResetRequests(ctx context.Context, limit int) ([]ResetRequest, error)
	// QueueReset voids the user's earlier reset tokens and stores a new one and its
	// mail, in one transaction. userID 0 (nobody) runs the same statements, which
	// then touch no row, so that an unknown login costs what a known one does.
	QueueReset(ctx context.Context, userID int64, reset EmailToken, m OutboxMessage) error
	// ResetTokenUser is the user a live reset token belongs to; ErrTokenInvalid.
	ResetTokenUser(ctx context.Context, digest string, at time.Time) (User, error)
	// ResetPassword spends a live reset token and sets the user's password, moving
	// their access generation on (as UpdatePasswordHash), in one transaction: of
	// two resets with one token, one wins. It returns the user as written.
	ResetPassword(ctx context.Context, digest, hash string, at time.Time) (User, error)

	// QueueMail adds a mail to the outbox on its own (the CLI's test message).
	QueueMail(ctx context.Context, m OutboxMessage) error
	// ClaimMail leases up to limit unsent mails that are due (fewer than
	// maxAttempts tries, next attempt reached, no live lease) to the caller until
	// at+lease, so that no other sender takes them meanwhile.
	ClaimMail(ctx context.Context, at time.Time, lease time.Duration, maxAttempts, limit int) ([]OutboxMessage, error)
	MarkMailSent(ctx context.Context, id int64, at time.Time) error
	// MarkMailFailed counts a failed try and sets the next; it returns the tries so far.
	MarkMailFailed(ctx context.Context, id int64, next time.Time, reason string) (attempts int, err error)
	// ListMail returns the newest mails first, sent or not.
	ListMail(ctx context.Context, limit int) ([]OutboxMessage, error)
}

// userConflict tells a taken address from a taken username.
func userConflict(err error) error {
	if strings.Contains(err.Error(), "email") {
		return ErrEmailTaken
	}
	return apperr.New(apperr.KindConflict, "username is already taken")
}

func nullEmail(email string) sql.NullString {
	return sql.NullString{String: email, Valid: email != ""}
}

func (s *sqlStore) UserByEmail(ctx context.Context, email string) (User, error) {
	return retryRead(ctx, func() (User, error) { return s.user(ctx, `lower(email) = lower(?)`, email) })
}

func (s *sqlStore) CreateUserWithEmail(ctx context.Context, u *User, verify EmailToken, m OutboxMessage) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.insertUser(ctx, tx, u); err != nil {
			return err
		}
		return s.addTokenAndMail(ctx, tx, u.ID, verify, m)
	})
}

func (s *sqlStore) SetEmail(ctx context.Context, userID int64, verify EmailToken, m OutboxMessage) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE users SET email = ?, email_verified_at = NULL, updated_at = ? WHERE id = ?`),
			verify.Email, now().UnixNano(), userID)
		if err != nil {
			if constraintOf(err) == uniqueViolation {
				return ErrEmailTaken
			}
			return dbError(err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return apperr.New(apperr.KindNotFound, "user not found")
		}
		return s.addTokenAndMail(ctx, tx, userID, verify, m)
	})
}

// addTokenAndMail voids the user's live tokens of t's purpose and inserts t and m.
// Both inserts read the user's row, so for a user that does not exist (QueueReset
// for nobody) they insert nothing, at the same cost.
func (s *sqlStore) addTokenAndMail(ctx context.Context, tx *sql.Tx, userID int64, t EmailToken, m OutboxMessage) error {
	at := now().UnixNano()
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE email_tokens SET used_at = ? WHERE user_id = ? AND purpose = ? AND used_at IS NULL`),
		at, userID, t.Purpose); err != nil {
		return dbError(err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`
		INSERT INTO email_tokens (user_id, purpose, digest, email, access_generation, created_at, expires_at)
		SELECT id, ?, ?, ?, access_generation, ?, ? FROM users WHERE id = ?`),
		t.Purpose, t.Digest, t.Email, at, t.ExpiresAt.UnixNano(), userID); err != nil {
		return dbError(err)
	}
	_, err := tx.ExecContext(ctx, s.q(`
		INSERT INTO mail_outbox (message_id, recipient, subject, text_body, html_body, created_at, next_attempt_at)
		SELECT ?, ?, ?, ?, ?, ?, ? FROM users WHERE id = ?`),
		m.MessageID, m.To, m.Subject, m.Text, m.HTML, at, at, userID)
	if err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) AddResetRequest(ctx context.Context, login, clientIP string) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO reset_requests (login, client_ip, created_at) VALUES (?, ?, ?)`),
		login, clientIP, now().UnixNano())
	if err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) TakeResetRequests(ctx context.Context, limit int) ([]ResetRequest, error) {
	pick := `SELECT id FROM reset_requests ORDER BY id LIMIT ?`
	if s.dialect == goose.DialectPostgres {
		pick += ` FOR UPDATE SKIP LOCKED`
	}
	rows, err := s.w.QueryContext(ctx, s.q(`DELETE FROM reset_requests WHERE id IN (`+pick+`) RETURNING id, login, client_ip`), limit)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []ResetRequest
	for rows.Next() {
		var r ResetRequest
		if err := rows.Scan(&r.ID, &r.Login, &r.ClientIP); err != nil {
			return nil, dbError(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

func (s *sqlStore) QueueReset(ctx context.Context, userID int64, reset EmailToken, m OutboxMessage) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.addTokenAndMail(ctx, tx, userID, reset, m) })
}

func (s *sqlStore) VerifyEmail(ctx context.Context, digest string, at time.Time) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var (
			userID int64
			email  string
		)
		err := tx.QueryRowContext(ctx, s.q(`UPDATE email_tokens SET used_at = ?
			WHERE digest = ? AND purpose = ? AND used_at IS NULL AND expires_at > ? RETURNING user_id, email`),
			at.UnixNano(), digest, TokenVerify, at.UnixNano()).Scan(&userID, &email)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenInvalid
		}
		if err != nil {
			return dbError(err)
		}
		u, err = scanUser(tx.QueryRowContext(ctx, s.q(`UPDATE users SET email_verified_at = COALESCE(email_verified_at, ?)
			WHERE id = ? AND email = ? RETURNING `+userColumns), at.UnixNano(), userID, email))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenInvalid // the address changed since the mail was sent
		}
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return u, err
}

// liveReset is the condition of a reset token that still works: unused, not
// expired, and issued under the user's current access generation.
const liveReset = `digest = ? AND purpose = 'reset' AND used_at IS NULL AND expires_at > ?
	AND access_generation = (SELECT u.access_generation FROM users u WHERE u.id = email_tokens.user_id)`

func (s *sqlStore) ResetTokenUser(ctx context.Context, digest string, at time.Time) (User, error) {
	return retryRead(ctx, func() (User, error) {
		u, err := s.user(ctx, `id = (SELECT user_id FROM email_tokens WHERE `+liveReset+`)`, digest, at.UnixNano())
		if apperr.Is(err, apperr.KindNotFound) {
			return User{}, ErrTokenInvalid
		}
		return u, err
	})
}

func (s *sqlStore) ResetPassword(ctx context.Context, digest, hash string, at time.Time) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The conditional UPDATE is the single use: of two at once, the second finds
		// used_at set (PostgreSQL re-checks the row after the first commits).
		var userID int64
		err := tx.QueryRowContext(ctx, s.q(`UPDATE email_tokens SET used_at = ? WHERE `+liveReset+` RETURNING user_id`),
			at.UnixNano(), digest, at.UnixNano()).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrTokenInvalid
		}
		if err != nil {
			return dbError(err)
		}
		u, err = scanUser(tx.QueryRowContext(ctx, s.q(`UPDATE users SET password_hash = ?, updated_at = ?,
			access_generation = access_generation + 1 WHERE id = ? RETURNING `+userColumns), hash, at.UnixNano(), userID))
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return u, err
}

// Outbox

const outboxColumns = `id, message_id, recipient, subject, text_body, html_body, created_at, attempts, next_attempt_at, sent_at, last_error`

func scanOutbox(row scanner) (OutboxMessage, error) {
	var (
		m             OutboxMessage
		created, next int64
		sent          sql.NullInt64
	)
	if err := row.Scan(&m.ID, &m.MessageID, &m.To, &m.Subject, &m.Text, &m.HTML, &created, &m.Attempts, &next, &sent, &m.LastError); err != nil {
		return OutboxMessage{}, err
	}
	m.CreatedAt, m.NextAttemptAt, m.SentAt = fromNanos(created), fromNanos(next), fromNullNanos(sent)
	return m, nil
}

func (s *sqlStore) QueueMail(ctx context.Context, m OutboxMessage) error {
	at := now().UnixNano()
	_, err := s.w.ExecContext(ctx, s.q(`
		INSERT INTO mail_outbox (message_id, recipient, subject, text_body, html_body, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), m.MessageID, m.To, m.Subject, m.Text, m.HTML, at, at)
	if err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) ClaimMail(ctx context.Context, at time.Time, lease time.Duration, maxAttempts, limit int) ([]OutboxMessage, error) {
	// PostgreSQL: SKIP LOCKED lets instances claiming at once take different rows;
	// the lease keeps a claimed row from a second sender until it is marked (or the
	// claimer died and the lease ran out). SQLite has one writer: it serialises.
	due := `SELECT id FROM mail_outbox WHERE sent_at IS NULL AND attempts < ? AND next_attempt_at <= ?
		AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT ?`
	if s.dialect == goose.DialectPostgres {
		due += ` FOR UPDATE SKIP LOCKED`
	}
	t := at.UnixNano()
	rows, err := s.w.QueryContext(ctx, s.q(`UPDATE mail_outbox SET lease_until = ? WHERE id IN (`+due+`) RETURNING `+outboxColumns),
		at.Add(lease).UnixNano(), maxAttempts, t, t, limit)
	return collect(rows, err, scanOutbox)
}

func (s *sqlStore) MarkMailSent(ctx context.Context, id int64, at time.Time) error {
	return s.execOne(ctx, "mail not found",
		`UPDATE mail_outbox SET sent_at = ?, lease_until = NULL, last_error = '' WHERE id = ?`, at.UnixNano(), id)
}

func (s *sqlStore) MarkMailFailed(ctx context.Context, id int64, next time.Time, reason string) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, s.q(`UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = ?, lease_until = NULL,
		last_error = ? WHERE id = ? RETURNING attempts`), next.UnixNano(), reason, id).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.KindNotFound, "mail not found")
	}
	if err != nil {
		return 0, dbError(err)
	}
	return n, nil
}

func (s *sqlStore) ListMail(ctx context.Context, limit int) ([]OutboxMessage, error) {
	return retryRead(ctx, func() ([]OutboxMessage, error) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+outboxColumns+` FROM mail_outbox ORDER BY created_at DESC, id DESC LIMIT ?`),
			min(max(limit, 1), 1000))
		return collect(rows, err, scanOutbox)
	})
}
