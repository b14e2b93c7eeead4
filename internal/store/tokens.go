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

// TokenStore keeps JWT signing keys and refresh-token families, and rolls API keys.
type TokenStore interface {
	// AddFirstSigningKey makes k the signing key if there is none yet, and reports
	// whether it did: instances starting together insert one key between them.
	AddFirstSigningKey(ctx context.Context, k SigningKey) (bool, error)
	// RotateSigningKey retires the signing key (at) and makes k the signing key, in
	// one transaction.
	RotateSigningKey(ctx context.Context, k SigningKey, at time.Time) error
	// SigningKeys returns the signing key and every key retired after retiredAfter.
	SigningKeys(ctx context.Context, retiredAfter time.Time) ([]SigningKey, error)

	// CreateRefreshFamily inserts f (setting its ID) with its first refresh token.
	CreateRefreshFamily(ctx context.Context, f *RefreshFamily, t RefreshToken) error
	// RotateRefreshToken spends the refresh token with digest d and, when its family
	// is live, stores next in its place, all in one transaction. The spend is one
	// conditional UPDATE, so of two rotations of one token exactly one wins; the
	// other, like any presentation of a spent token, revokes the family (at
	// next.CreatedAt) and answers RefreshReused.
	RotateRefreshToken(ctx context.Context, d string, next RefreshToken) (RefreshRotation, error)
	// RevokeRefreshFamily revokes the user's live family with the handle (userID 0:
	// anyone's); found is false when there is no such live family.
	RevokeRefreshFamily(ctx context.Context, userID int64, handle string, at time.Time) (f RefreshFamily, found bool, err error)
	// RevokeRefreshFamilyByToken revokes the family of a refresh token (spent or not).
	RevokeRefreshFamilyByToken(ctx context.Context, d string, at time.Time) (f RefreshFamily, found bool, err error)
	// RevokeUserRefreshFamilies revokes every live family of the user and returns them.
	RevokeUserRefreshFamilies(ctx context.Context, userID int64, at time.Time) ([]RefreshFamily, error)
	// LiveRefreshFamilies lists the user's families that can still refresh (not
	// revoked, not expired, made under the user's current access generation),
	// newest first, at most MaxListedFamilies.
	LiveRefreshFamilies(ctx context.Context, userID int64, now time.Time) ([]RefreshFamily, error)

	// RollAPIKey replaces one of the user's usable keys (userID 0: anyone's) with a
	// new one of the same name, permissions and expiry, stored with prefix and
	// digest; the old key now expires at graceEnd, or keeps an earlier expiry.
	// KindNotFound for no such key, a validation error for a revoked or expired one.
	RollAPIKey(ctx context.Context, userID, keyID int64, prefix, digest string, graceEnd time.Time) (old, next APIKey, err error)
}

// SigningKey is a key access tokens are signed with. The private key is sealed
// (internal/secretbox); RetiredAt is nil for the one key that signs.
type SigningKey struct {
	KID           string
	Algorithm     string
	PublicKey     []byte
	PrivateSealed []byte
	CreatedAt     time.Time
	RetiredAt     *time.Time
}

// RefreshFamily is one password grant and every refresh token rotated from it.
type RefreshFamily struct {
	ID         int64
	Handle     string // public: the tokens' sid and the sessions page's id
	UserID     int64
	Generation int64 // the user's access generation at the grant
	Scope      string
	ClientIP   string
	UserAgent  string
	CreatedAt  time.Time
	LastUsedAt time.Time
	ExpiresAt  time.Time // of its newest refresh token
	RevokedAt  *time.Time
}

// RefreshToken is a refresh token as stored: its SHA-256 digest, never the token.
type RefreshToken struct {
	Digest    string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshOutcome is what presenting a refresh token did.
type RefreshOutcome int

const (
	// RefreshRotated: the token was spent and the next one stored.
	RefreshRotated RefreshOutcome = iota
	// RefreshUnknown: no such token, or expired.
	RefreshUnknown
	// RefreshEnded: the token was live but its family is revoked, expired or void
	// (the user's access ended, or the user is disabled).
	RefreshEnded
	// RefreshReused: the token was spent before; its family is now revoked.
	RefreshReused
)

// RefreshRotation is RotateRefreshToken's answer: the family and its owner as read
// in the transaction.
type RefreshRotation struct {
	Outcome RefreshOutcome
	Family  RefreshFamily
	User    User
}

// MaxListedFamilies bounds the families LiveRefreshFamilies returns.
const MaxListedFamilies = 100

// Signing keys

func (s *sqlStore) AddFirstSigningKey(ctx context.Context, k SigningKey) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO jwt_signing_keys
		(kid, algorithm, public_key, private_sealed, active, created_at) VALUES (?, ?, ?, ?, 1, ?)
		ON CONFLICT (active) DO NOTHING`), k.KID, k.Algorithm, k.PublicKey, k.PrivateSealed, k.CreatedAt.UnixNano())
	if err != nil {
		return false, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError(err)
	}
	return n == 1, nil
}

func (s *sqlStore) RotateSigningKey(ctx context.Context, k SigningKey, at time.Time) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE jwt_signing_keys SET active = NULL, retired_at = ? WHERE active = 1`),
			at.UnixNano()); err != nil {
			return dbError(err)
		}
		// A rotation racing this one makes the insert a unique violation: one wins.
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO jwt_signing_keys
			(kid, algorithm, public_key, private_sealed, active, created_at) VALUES (?, ?, ?, ?, 1, ?)`),
			k.KID, k.Algorithm, k.PublicKey, k.PrivateSealed, k.CreatedAt.UnixNano()); err != nil {
			if constraintOf(err) == uniqueViolation {
				return apperr.New(apperr.KindConflict, "another rotation happened at the same time; try again")
			}
			return dbError(err)
		}
		return nil
	})
}

func (s *sqlStore) SigningKeys(ctx context.Context, retiredAfter time.Time) ([]SigningKey, error) {
	return retryRead(ctx, func() ([]SigningKey, error) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT kid, algorithm, public_key, private_sealed, created_at, retired_at
			FROM jwt_signing_keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY created_at DESC`), retiredAfter.UnixNano())
		if err != nil {
			return nil, dbError(err)
		}
		defer rows.Close()
		var keys []SigningKey
		for rows.Next() {
			var (
				k       SigningKey
				created int64
				retired sql.NullInt64
			)
			if err := rows.Scan(&k.KID, &k.Algorithm, &k.PublicKey, &k.PrivateSealed, &created, &retired); err != nil {
				return nil, dbError(err)
			}
			k.CreatedAt, k.RetiredAt = fromNanos(created), fromNullNanos(retired)
			keys = append(keys, k)
		}
		if err := rows.Err(); err != nil {
			return nil, dbError(err)
		}
		return keys, nil
	})
}

// Refresh families

const familyColumns = `f.id, f.handle, f.user_id, f.generation, f.scope, f.client_ip, f.user_agent,
	f.created_at, f.last_used_at, f.expires_at, f.revoked_at`

// scanFamilyRow is scanFamily with no extra columns, for collect.
func scanFamilyRow(row scanner) (RefreshFamily, error) { return scanFamily(row) }

func scanFamily(row scanner, extra ...any) (RefreshFamily, error) {
	var (
		f                      RefreshFamily
		created, used, expires int64
		revoked                sql.NullInt64
	)
	dest := append([]any{&f.ID, &f.Handle, &f.UserID, &f.Generation, &f.Scope, &f.ClientIP, &f.UserAgent,
		&created, &used, &expires, &revoked}, extra...)
	if err := row.Scan(dest...); err != nil {
		return RefreshFamily{}, err
	}
	f.CreatedAt, f.LastUsedAt, f.ExpiresAt = fromNanos(created), fromNanos(used), fromNanos(expires)
	f.RevokedAt = fromNullNanos(revoked)
	return f, nil
}

func (s *sqlStore) CreateRefreshFamily(ctx context.Context, f *RefreshFamily, t RefreshToken) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO refresh_families
			(handle, user_id, generation, scope, client_ip, user_agent, created_at, last_used_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			f.Handle, f.UserID, f.Generation, f.Scope, f.ClientIP, f.UserAgent,
			f.CreatedAt.UnixNano(), f.LastUsedAt.UnixNano(), f.ExpiresAt.UnixNano()).Scan(&f.ID)
		if err != nil {
			if constraintOf(err) == foreignKeyViolation {
				return apperr.New(apperr.KindNotFound, "user not found")
			}
			return dbError(err)
		}
		return s.insertRefreshToken(ctx, tx, f.ID, t)
	})
}

func (s *sqlStore) insertRefreshToken(ctx context.Context, tx *sql.Tx, familyID int64, t RefreshToken) error {
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO refresh_tokens (digest, family_id, created_at, expires_at)
		VALUES (?, ?, ?, ?)`), t.Digest, familyID, t.CreatedAt.UnixNano(), t.ExpiresAt.UnixNano()); err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) RotateRefreshToken(ctx context.Context, d string, next RefreshToken) (RefreshRotation, error) {
	var out RefreshRotation
	at := next.CreatedAt.UnixNano()
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// The spend: only one presentation of a token can make this change a row.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_tokens SET spent_at = ?
			WHERE digest = ? AND spent_at IS NULL AND expires_at > ?`), at, d, at)
		if err != nil {
			return dbError(err)
		}
		spent, err := res.RowsAffected()
		if err != nil {
			return dbError(err)
		}
		var spentAt sql.NullInt64
		out.Family, err = scanFamily(tx.QueryRowContext(ctx, s.q(`SELECT `+familyColumns+`, t.spent_at
			FROM refresh_tokens t JOIN refresh_families f ON f.id = t.family_id WHERE t.digest = ?`), d), &spentAt)
		if errors.Is(err, sql.ErrNoRows) {
			out.Outcome = RefreshUnknown
			return nil
		}
		if err != nil {
			return dbError(err)
		}
		if spent == 0 {
			if !spentAt.Valid { // expired, never spent
				out.Outcome = RefreshUnknown
				return nil
			}
			out.Outcome = RefreshReused
			return s.revokeFamily(ctx, tx, out.Family.ID, at)
		}
		out.User, err = scanUser(tx.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE id = ?`), out.Family.UserID))
		if err != nil {
			return dbError(err)
		}
		if out.Family.RevokedAt != nil || !next.CreatedAt.Before(out.Family.ExpiresAt) ||
			out.Family.Generation != out.User.AccessGeneration || out.User.DisabledAt != nil {
			out.Outcome = RefreshEnded
			return nil
		}
		if err := s.insertRefreshToken(ctx, tx, out.Family.ID, next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_families SET last_used_at = ?, expires_at = ? WHERE id = ?`),
			at, next.ExpiresAt.UnixNano(), out.Family.ID); err != nil {
			return dbError(err)
		}
		out.Family.LastUsedAt, out.Family.ExpiresAt = next.CreatedAt, next.ExpiresAt
		out.Outcome = RefreshRotated
		return nil
	})
	return out, err
}

func (s *sqlStore) revokeFamily(ctx context.Context, tx *sql.Tx, familyID, at int64) error {
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`),
		at, familyID); err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) RevokeRefreshFamily(ctx context.Context, userID int64, handle string, at time.Time) (RefreshFamily, bool, error) {
	where, args := ` WHERE handle = ?`, []any{handle}
	if userID != 0 {
		where, args = where+` AND user_id = ?`, append(args, userID)
	}
	return s.revokeOneFamily(ctx, where, args, at)
}

func (s *sqlStore) RevokeRefreshFamilyByToken(ctx context.Context, d string, at time.Time) (RefreshFamily, bool, error) {
	return s.revokeOneFamily(ctx, ` WHERE id = (SELECT family_id FROM refresh_tokens WHERE digest = ?)`, []any{d}, at)
}

// revokeOneFamily revokes the one live family where selects.
func (s *sqlStore) revokeOneFamily(ctx context.Context, where string, args []any, at time.Time) (RefreshFamily, bool, error) {
	fams, err := s.revokeFamilies(ctx, where, args, at)
	if err != nil || len(fams) == 0 {
		return RefreshFamily{}, false, err
	}
	return fams[0], true, nil
}

func (s *sqlStore) RevokeUserRefreshFamilies(ctx context.Context, userID int64, at time.Time) ([]RefreshFamily, error) {
	return s.revokeFamilies(ctx, ` WHERE user_id = ?`, []any{userID}, at)
}

// revokeFamilies revokes the live families where selects and returns them.
func (s *sqlStore) revokeFamilies(ctx context.Context, where string, args []any, at time.Time) ([]RefreshFamily, error) {
	ns := at.UnixNano()
	rows, err := s.w.QueryContext(ctx, s.q(`UPDATE refresh_families SET revoked_at = ?`+where+
		` AND revoked_at IS NULL AND expires_at > ?
		RETURNING `+familyColumnsBare), append(append([]any{ns}, args...), ns)...)
	return collect(rows, err, scanFamilyRow)
}

// familyColumnsBare is familyColumns without the table alias, for RETURNING.
const familyColumnsBare = `id, handle, user_id, generation, scope, client_ip, user_agent,
	created_at, last_used_at, expires_at, revoked_at`

func (s *sqlStore) LiveRefreshFamilies(ctx context.Context, userID int64, now time.Time) ([]RefreshFamily, error) {
	return retryRead(ctx, func() ([]RefreshFamily, error) {
		rows, err := s.r.QueryContext(ctx, s.q(`SELECT `+familyColumns+`
			FROM refresh_families f JOIN users u ON u.id = f.user_id
			WHERE f.user_id = ? AND f.revoked_at IS NULL AND f.expires_at > ? AND f.generation = u.access_generation
			ORDER BY f.created_at DESC, f.id DESC LIMIT ?`), userID, now.UnixNano(), MaxListedFamilies)
		return collect(rows, err, scanFamilyRow)
	})
}

// Rolling an API key

// errKeyNotRollable refuses to roll a revoked or expired key.
var errKeyNotRollable = apperr.Validation("Validation error",
	apperr.FieldError{Field: "id", Message: "is revoked or expired: create a new key instead"})

func (s *sqlStore) RollAPIKey(ctx context.Context, userID, keyID int64, prefix, digest string, graceEnd time.Time) (APIKey, APIKey, error) {
	var old, next APIKey
	t := now()
	where, args := ` WHERE k.id = ?`, []any{keyID}
	if userID != 0 {
		where, args = where+` AND k.user_id = ?`, append(args, userID)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		old, err = scanAPIKey(tx.QueryRowContext(ctx, s.q(keySelect+where), args...))
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.KindNotFound, "API key not found")
		}
		if err != nil {
			return dbError(err)
		}
		if old.RevokedAt != nil || (old.ExpiresAt != nil && !t.Before(*old.ExpiresAt)) {
			return errKeyNotRollable
		}
		// Serialised per user like CreateAPIKey, so the active-key bound holds.
		lockUser := `SELECT id FROM users WHERE id = ?`
		if s.dialect == goose.DialectPostgres {
			lockUser += ` FOR UPDATE`
		}
		var id int64
		if err := tx.QueryRowContext(ctx, s.q(lockUser), old.UserID).Scan(&id); err != nil {
			return dbError(err)
		}
		var active int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM api_keys
			WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`),
			old.UserID, t.UnixNano()).Scan(&active); err != nil {
			return dbError(err)
		}
		if active >= MaxActiveKeysPerUser {
			return ErrTooManyKeys
		}
		next = APIKey{UserID: old.UserID, Username: old.Username, UserRole: old.UserRole, Name: old.Name,
			Prefix: prefix, Digest: digest, Permissions: old.Permissions, CreatedAt: t, ExpiresAt: old.ExpiresAt}
		// Rolling never lengthens the old key's life.
		oldEnd := graceEnd.UTC()
		if old.ExpiresAt != nil && old.ExpiresAt.Before(oldEnd) {
			oldEnd = *old.ExpiresAt
		}
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET expires_at = ? WHERE id = ?`), oldEnd.UnixNano(), old.ID); err != nil {
			return dbError(err)
		}
		old.ExpiresAt = &oldEnd
		err = tx.QueryRowContext(ctx, s.q(`INSERT INTO api_keys (user_id, name, prefix, digest, permissions, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`), next.UserID, next.Name, next.Prefix, next.Digest,
			strings.Join(next.Permissions, ","), t.UnixNano(), nullNanos(next.ExpiresAt)).Scan(&next.ID)
		if err != nil {
			if constraintOf(err) == uniqueViolation {
				return apperr.New(apperr.KindConflict, "API key already exists")
			}
			return dbError(err)
		}
		return nil
	})
	return old, next, err
}
