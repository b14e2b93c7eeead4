package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"fiberauth/internal/apperr"
)

// SecondFactorTOTP is User.SecondFactor for a user with a confirmed TOTP secret.
const SecondFactorTOTP = "totp"

// TOTPSecret is a user's TOTP row. The secret is sealed (internal/secretbox): the
// store never sees it in the clear.
type TOTPSecret struct {
	UserID      int64
	Sealed      []byte
	CreatedAt   time.Time
	ConfirmedAt *time.Time // nil while enrolment is not finished
	LastStep    int64      // the last accepted time step; only a later one is accepted
}

// RememberedBrowser is a browser that may skip the code at a password login. Only
// the SHA-256 of its token is stored.
type RememberedBrowser struct {
	Digest     string // lowercase hex SHA-256 of the cookie's token
	UserID     int64
	Handle     string // public name on the sessions page, random, not derived from the token
	Generation int64  // the user's access generation when it was remembered
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time
	ClientIP   string
	UserAgent  string
}

// MaxRememberedBrowsers bounds one user's remembered browsers; remembering one
// more forgets the oldest.
const MaxRememberedBrowsers = 20

// SecondFactorStore keeps TOTP secrets, recovery codes and remembered browsers.
type SecondFactorStore interface {
	// StartTOTP stores a new, unconfirmed secret for the user, replacing an
	// unconfirmed one; KindConflict when a confirmed one exists.
	StartTOTP(ctx context.Context, userID int64, sealed []byte) error
	// TOTP reads the user's TOTP row; KindNotFound when there is none.
	TOTP(ctx context.Context, userID int64) (TOTPSecret, error)
	// ConfirmTOTP turns the unconfirmed secret on, with step as its first accepted
	// time step and codeHashes as the recovery codes, and sets users.second_factor,
	// in one transaction; KindNotFound when there is no unconfirmed secret.
	ConfirmTOTP(ctx context.Context, userID, step int64, codeHashes []string) error
	// AcceptTOTPStep records step as used, only if it is later than the last one
	// accepted: of two uses of one code, exactly one reports true.
	AcceptTOTPStep(ctx context.Context, userID, step int64) (bool, error)
	// UseRecoveryCode marks an unused code used and reports whether it did: of two
	// uses of one code, exactly one reports true.
	UseRecoveryCode(ctx context.Context, userID int64, codeHash string) (bool, error)
	// ReplaceRecoveryCodes makes codeHashes the user's only recovery codes.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string) error
	// RecoveryCodesLeft counts the user's unused recovery codes.
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
	// RemoveSecondFactor deletes the user's TOTP secret, recovery codes and
	// remembered browsers and clears users.second_factor; it reports whether there
	// was a confirmed secret.
	RemoveSecondFactor(ctx context.Context, userID int64) (bool, error)

	// RememberBrowser stores b, forgetting the user's oldest beyond
	// MaxRememberedBrowsers.
	RememberBrowser(ctx context.Context, b RememberedBrowser) error
	// RememberedBrowser finds one by digest; KindNotFound when there is none.
	RememberedBrowser(ctx context.Context, digest string) (RememberedBrowser, error)
	// TouchRememberedBrowser records a use.
	TouchRememberedBrowser(ctx context.Context, digest string, at time.Time) error
	// ListRememberedBrowsers returns the user's remembered browsers, newest first.
	ListRememberedBrowsers(ctx context.Context, userID int64) ([]RememberedBrowser, error)
	// ForgetRememberedBrowser deletes one of the user's, by handle, and reports
	// whether there was one.
	ForgetRememberedBrowser(ctx context.Context, userID int64, handle string) (bool, error)
}

func (s *sqlStore) StartTOTP(ctx context.Context, userID int64, sealed []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, s.q(`SELECT confirmed_at FROM user_totp WHERE user_id = ?`), userID).Scan(&confirmed)
		switch {
		case err == nil && confirmed.Valid:
			return apperr.New(apperr.KindConflict, "Two-factor authentication is already on")
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return dbError(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM user_totp WHERE user_id = ?`), userID); err != nil {
			return dbError(err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO user_totp (user_id, secret, created_at) VALUES (?, ?, ?)`),
			userID, sealed, now().UnixNano()); err != nil {
			if constraintOf(err) == foreignKeyViolation {
				return apperr.New(apperr.KindNotFound, "user not found")
			}
			return dbError(err)
		}
		return nil
	})
}

func (s *sqlStore) TOTP(ctx context.Context, userID int64) (TOTPSecret, error) {
	return retryRead(ctx, func() (TOTPSecret, error) {
		t := TOTPSecret{UserID: userID}
		var created int64
		var confirmed sql.NullInt64
		err := s.r.QueryRowContext(ctx, s.q(`SELECT secret, created_at, confirmed_at, last_step FROM user_totp WHERE user_id = ?`),
			userID).Scan(&t.Sealed, &created, &confirmed, &t.LastStep)
		if errors.Is(err, sql.ErrNoRows) {
			return TOTPSecret{}, apperr.New(apperr.KindNotFound, "no TOTP secret")
		}
		if err != nil {
			return TOTPSecret{}, dbError(err)
		}
		t.CreatedAt, t.ConfirmedAt = fromNanos(created), fromNullNanos(confirmed)
		return t, nil
	})
}

func (s *sqlStore) ConfirmTOTP(ctx context.Context, userID, step int64, codeHashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		t := now().UnixNano()
		res, err := tx.ExecContext(ctx, s.q(`UPDATE user_totp SET confirmed_at = ?, last_step = ?
			WHERE user_id = ? AND confirmed_at IS NULL`), t, step, userID)
		if err != nil {
			return dbError(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return dbError(err)
		} else if n == 0 {
			return apperr.New(apperr.KindNotFound, "no TOTP enrolment to confirm")
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET second_factor = ?, updated_at = ? WHERE id = ?`),
			SecondFactorTOTP, t, userID); err != nil {
			return dbError(err)
		}
		return s.replaceCodes(ctx, tx, userID, codeHashes)
	})
}

// replaceCodes, inside tx, makes codeHashes the user's only recovery codes.
func (s *sqlStore) replaceCodes(ctx context.Context, tx *sql.Tx, userID int64, codeHashes []string) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE user_id = ?`), userID); err != nil {
		return dbError(err)
	}
	t := now().UnixNano()
	for _, h := range codeHashes {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES (?, ?, ?)`),
			userID, h, t); err != nil {
			return dbError(err)
		}
	}
	return nil
}

func (s *sqlStore) AcceptTOTPStep(ctx context.Context, userID, step int64) (bool, error) {
	return s.changed(ctx, `UPDATE user_totp SET last_step = ?
		WHERE user_id = ? AND confirmed_at IS NOT NULL AND last_step < ?`, step, userID, step)
}

func (s *sqlStore) UseRecoveryCode(ctx context.Context, userID int64, codeHash string) (bool, error) {
	return s.changed(ctx, `UPDATE recovery_codes SET used_at = ?
		WHERE user_id = ? AND code_hash = ? AND used_at IS NULL`, now().UnixNano(), userID, codeHash)
}

// changed runs a conditional write and reports whether it touched a row.
func (s *sqlStore) changed(ctx context.Context, query string, args ...any) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return false, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError(err)
	}
	return n > 0, nil
}

func (s *sqlStore) ReplaceRecoveryCodes(ctx context.Context, userID int64, codeHashes []string) error {
	return s.inTx(ctx, func(tx *sql.Tx) error { return s.replaceCodes(ctx, tx, userID, codeHashes) })
}

func (s *sqlStore) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	return retryRead(ctx, func() (int, error) {
		var n int
		if err := s.r.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL`),
			userID).Scan(&n); err != nil {
			return 0, dbError(err)
		}
		return n, nil
	})
}

func (s *sqlStore) RemoveSecondFactor(ctx context.Context, userID int64) (bool, error) {
	var had bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var confirmed sql.NullInt64
		err := tx.QueryRowContext(ctx, s.q(`SELECT confirmed_at FROM user_totp WHERE user_id = ?`), userID).Scan(&confirmed)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return dbError(err)
		}
		had = confirmed.Valid
		for _, q := range []string{
			`DELETE FROM user_totp WHERE user_id = ?`,
			`DELETE FROM recovery_codes WHERE user_id = ?`,
			`DELETE FROM remembered_browsers WHERE user_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, s.q(q), userID); err != nil {
				return dbError(err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE users SET second_factor = '', updated_at = ? WHERE id = ?`),
			now().UnixNano(), userID); err != nil {
			return dbError(err)
		}
		return nil
	})
	return had, err
}

const rememberedColumns = `digest, user_id, handle, generation, created_at, last_used_at, expires_at, client_ip, user_agent`

func scanRemembered(row scanner) (RememberedBrowser, error) {
	var b RememberedBrowser
	var created, used, expires int64
	if err := row.Scan(&b.Digest, &b.UserID, &b.Handle, &b.Generation, &created, &used, &expires, &b.ClientIP, &b.UserAgent); err != nil {
		return RememberedBrowser{}, err
	}
	b.CreatedAt, b.LastUsedAt, b.ExpiresAt = fromNanos(created), fromNanos(used), fromNanos(expires)
	return b, nil
}

func (s *sqlStore) RememberBrowser(ctx context.Context, b RememberedBrowser) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO remembered_browsers (`+rememberedColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), b.Digest, b.UserID, b.Handle, b.Generation, b.CreatedAt.UnixNano(),
			b.LastUsedAt.UnixNano(), b.ExpiresAt.UnixNano(), b.ClientIP, b.UserAgent); err != nil {
			if constraintOf(err) == foreignKeyViolation {
				return apperr.New(apperr.KindNotFound, "user not found")
			}
			return dbError(err)
		}
		// Expired ones go, then the oldest beyond the bound.
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM remembered_browsers WHERE user_id = ? AND (expires_at <= ?
			OR digest NOT IN (SELECT digest FROM remembered_browsers WHERE user_id = ? ORDER BY created_at DESC, digest LIMIT ?))`),
			b.UserID, now().UnixNano(), b.UserID, MaxRememberedBrowsers); err != nil {
			return dbError(err)
		}
		return nil
	})
}

func (s *sqlStore) RememberedBrowser(ctx context.Context, digest string) (RememberedBrowser, error) {
	return retryRead(ctx, func() (RememberedBrowser, error) {
		b, err := scanRemembered(s.r.QueryRowContext(ctx, s.q(`SELECT `+rememberedColumns+` FROM remembered_browsers WHERE digest = ?`), digest))
		if errors.Is(err, sql.ErrNoRows) {
			return RememberedBrowser{}, apperr.New(apperr.KindNotFound, "no such remembered browser")
		}
		if err != nil {
			return RememberedBrowser{}, dbError(err)
		}
		return b, nil
	})
}

func (s *sqlStore) TouchRememberedBrowser(ctx context.Context, digest string, at time.Time) error {
	_, err := s.changed(ctx, `UPDATE remembered_browsers SET last_used_at = ? WHERE digest = ?`, at.UnixNano(), digest)
	return err
}

func (s *sqlStore) ListRememberedBrowsers(ctx context.Context, userID int64) ([]RememberedBrowser, error) {
	return retryRead(ctx, func() ([]RememberedBrowser, error) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+rememberedColumns+` FROM remembered_browsers
			WHERE user_id = ? ORDER BY created_at DESC, digest`), userID)
		return collect(rows, err, scanRemembered)
	})
}

func (s *sqlStore) ForgetRememberedBrowser(ctx context.Context, userID int64, handle string) (bool, error) {
	return s.changed(ctx, `DELETE FROM remembered_browsers WHERE user_id = ? AND handle = ?`, userID, handle)
}
