package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"fiberauth/internal/apperr"
)

// Passkey is a stored WebAuthn credential: its public key and what the login
// ceremony checks against (the sign counter, the flags). No secret is stored.
type Passkey struct {
	ID                int64
	UserID            int64
	CredentialID      []byte
	PublicKey         []byte // COSE-encoded public key
	SignCount         uint32
	AAGUID            []byte
	Transports        []string
	Flags             byte // UP, UV, BE, BS packed as go-webauthn's CredentialFlags.MsgpByte
	AttestationType   string
	AttestationFormat string
	Name              string
	CreatedAt         time.Time
	LastUsedAt        *time.Time
}

// MaxPasskeysPerUser bounds one user's passkeys: each is a row and a line on the
// account page, and a script registering in a loop must not grow them without end.
const MaxPasskeysPerUser = 20

var (
	// ErrTooManyPasskeys refuses a passkey beyond MaxPasskeysPerUser.
	ErrTooManyPasskeys = apperr.Validation("Validation error", apperr.FieldError{Field: "passkeys",
		Message: fmt.Sprintf("at most %d passkeys; remove one first", MaxPasskeysPerUser)})
	// ErrLastPasskey refuses removing the only way an account without a password
	// can log in.
	ErrLastPasskey = apperr.Validation("This is the account's only way to log in: set a password or add another passkey first",
		apperr.FieldError{Field: "id", Message: "is the last passkey of an account without a password"})
	errPasskeyNotFound = apperr.New(apperr.KindNotFound, "Passkey not found")
)

// PasskeyStore keeps WebAuthn credentials.
type PasskeyStore interface {
	// PasskeyHandle returns the user's WebAuthn user handle, storing candidate as it
	// when the user has none yet (the first of two racing callers wins; both get it).
	PasskeyHandle(ctx context.Context, userID int64, candidate []byte) ([]byte, error)
	// UserByPasskeyHandle finds the user a handle names (KindNotFound if none).
	UserByPasskeyHandle(ctx context.Context, handle []byte) (User, error)
	// CreatePasskey inserts p and sets its ID and CreatedAt. A credential already
	// registered is KindConflict; beyond MaxPasskeysPerUser, ErrTooManyPasskeys.
	CreatePasskey(ctx context.Context, p *Passkey) error
	// ListPasskeys returns the user's passkeys, oldest first.
	ListPasskeys(ctx context.Context, userID int64) ([]Passkey, error)
	// PasskeyByCredentialID finds a passkey by its credential ID (KindNotFound if none).
	PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error)
	// RecordPasskeyUse stores a login's sign counter, flags and time, only if the
	// counter moved forward from what is stored (or both are zero: an authenticator
	// without a counter), and reports whether it did. Two logins racing with one
	// counter value cannot both pass.
	RecordPasskeyUse(ctx context.Context, id int64, signCount uint32, flags byte, at time.Time) (bool, error)
	// DeletePasskey removes one of the user's passkeys: KindNotFound when it is
	// not theirs, ErrLastPasskey when it is the last one of an account with no
	// password.
	DeletePasskey(ctx context.Context, userID, id int64) error
	// DeletePasskeys removes every passkey of the user and returns how many.
	DeletePasskeys(ctx context.Context, userID int64) (int64, error)
}

var _ PasskeyStore = (*sqlStore)(nil)

func (s *sqlStore) PasskeyHandle(ctx context.Context, userID int64, candidate []byte) ([]byte, error) {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO passkey_users (user_id, handle) VALUES (?, ?)
		ON CONFLICT (user_id) DO NOTHING`), userID, candidate)
	if err != nil {
		if constraintOf(err) == foreignKeyViolation {
			return nil, apperr.New(apperr.KindNotFound, "user not found")
		}
		return nil, dbError(err)
	}
	var handle []byte
	err = s.w.QueryRowContext(ctx, s.q(`SELECT handle FROM passkey_users WHERE user_id = ?`), userID).Scan(&handle)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, apperr.New(apperr.KindNotFound, "user not found")
	}
	if err != nil {
		return nil, dbError(err)
	}
	return handle, nil
}

func (s *sqlStore) UserByPasskeyHandle(ctx context.Context, handle []byte) (User, error) {
	return retryRead(ctx, func() (User, error) {
		return s.user(ctx, `id = (SELECT user_id FROM passkey_users WHERE handle = ?)`, handle)
	})
}

const passkeyColumns = `id, user_id, credential_id, public_key, sign_count, aaguid, transports, flags,
	attestation_type, attestation_format, name, created_at, last_used_at`

func scanPasskey(row scanner) (Passkey, error) {
	var (
		p          Passkey
		count      int64
		flags      int64
		transports string
		created    int64
		lastUsed   sql.NullInt64
	)
	err := row.Scan(&p.ID, &p.UserID, &p.CredentialID, &p.PublicKey, &count, &p.AAGUID, &transports, &flags,
		&p.AttestationType, &p.AttestationFormat, &p.Name, &created, &lastUsed)
	if err != nil {
		return Passkey{}, err
	}
	p.SignCount, p.Flags = uint32(count), byte(flags)
	p.Transports = splitPermissions(transports)
	p.CreatedAt, p.LastUsedAt = fromNanos(created), fromNullNanos(lastUsed)
	return p, nil
}

func (s *sqlStore) CreatePasskey(ctx context.Context, p *Passkey) error {
	for _, t := range p.Transports {
		if t == "" || strings.Contains(t, ",") {
			return apperr.New(apperr.KindBadRequest, "invalid passkey transport")
		}
	}
	t := now()
	// The count and the insert are one transaction, serialised per user as for API
	// keys: two registrations at the limit cannot both find room.
	lockUser := `SELECT id FROM users WHERE id = ?`
	if s.dialect == goose.DialectPostgres {
		lockUser += ` FOR UPDATE`
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, s.q(lockUser), p.UserID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.KindNotFound, "user not found")
		}
		if err != nil {
			return dbError(err)
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM passkeys WHERE user_id = ?`), p.UserID).Scan(&n); err != nil {
			return dbError(err)
		}
		if n >= MaxPasskeysPerUser {
			return ErrTooManyPasskeys
		}
		err = tx.QueryRowContext(ctx, s.q(`
			INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, aaguid, transports, flags,
				attestation_type, attestation_format, name, created_at, last_used_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id`),
			p.UserID, p.CredentialID, p.PublicKey, int64(p.SignCount), nonNil(p.AAGUID), strings.Join(p.Transports, ","),
			int64(p.Flags), p.AttestationType, p.AttestationFormat, p.Name, t.UnixNano(),
		).Scan(&p.ID)
		if err != nil {
			switch constraintOf(err) {
			case uniqueViolation:
				return apperr.New(apperr.KindConflict, "This passkey is already registered")
			case foreignKeyViolation:
				return apperr.New(apperr.KindNotFound, "user not found")
			}
			return dbError(err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	p.CreatedAt, p.LastUsedAt = t, nil
	return nil
}

// nonNil stores an absent byte string as an empty one (the columns are NOT NULL).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (s *sqlStore) ListPasskeys(ctx context.Context, userID int64) ([]Passkey, error) {
	return retryRead(ctx, func() ([]Passkey, error) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE user_id = ? ORDER BY id`), userID)
		return collect(rows, err, scanPasskey)
	})
}

func (s *sqlStore) PasskeyByCredentialID(ctx context.Context, credentialID []byte) (Passkey, error) {
	return retryRead(ctx, func() (Passkey, error) {
		p, err := scanPasskey(s.r.QueryRowContext(ctx, s.q(`SELECT `+passkeyColumns+` FROM passkeys WHERE credential_id = ?`),
			credentialID))
		if errors.Is(err, sql.ErrNoRows) {
			return Passkey{}, errPasskeyNotFound
		}
		if err != nil {
			return Passkey{}, dbError(err)
		}
		return p, nil
	})
}

func (s *sqlStore) RecordPasskeyUse(ctx context.Context, id int64, signCount uint32, flags byte, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE passkeys SET sign_count = ?, flags = ?, last_used_at = ?
		WHERE id = ? AND (sign_count < ? OR (sign_count = 0 AND ? = 0))`),
		int64(signCount), int64(flags), at.UnixNano(), id, int64(signCount), int64(signCount))
	if err != nil {
		return false, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError(err)
	}
	return n == 1, nil
}

func (s *sqlStore) DeletePasskey(ctx context.Context, userID, id int64) error {
	lockUser := `SELECT password_hash FROM users WHERE id = ?`
	if s.dialect == goose.DialectPostgres {
		lockUser += ` FOR UPDATE` // two removals at once must not both see "another one is left"
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var hash string
		err := tx.QueryRowContext(ctx, s.q(lockUser), userID).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			return errPasskeyNotFound
		}
		if err != nil {
			return dbError(err)
		}
		var mine, total int
		err = tx.QueryRowContext(ctx, s.q(`SELECT COUNT(CASE WHEN id = ? THEN 1 END), COUNT(*) FROM passkeys WHERE user_id = ?`),
			id, userID).Scan(&mine, &total)
		if err != nil {
			return dbError(err)
		}
		switch {
		case mine == 0:
			return errPasskeyNotFound
		case hash == "" && total == 1:
			return ErrLastPasskey
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM passkeys WHERE id = ? AND user_id = ?`), id, userID); err != nil {
			return dbError(err)
		}
		return nil
	})
}

func (s *sqlStore) DeletePasskeys(ctx context.Context, userID int64) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM passkeys WHERE user_id = ?`), userID)
	if err != nil {
		return 0, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, dbError(err)
	}
	return n, nil
}
