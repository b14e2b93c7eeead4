package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"fiberauth/internal/apperr"
)

// sqlStore implements Store on database/sql for both SQLite and PostgreSQL. Queries
// are written once with ? placeholders; q rebinds them for PostgreSQL.
//
// Times are stored as BIGINT/INTEGER unix nanoseconds, UTC, on both databases, so
// one set of scanning code serves both and times round-trip exactly.
type sqlStore struct {
	dialect goose.Dialect
	r       *sql.DB // reads
	w       *sql.DB // writes; the same pool as r except on a SQLite file
}

var _ Store = (*sqlStore)(nil)

// q rewrites ? placeholders as $1, $2, ... for PostgreSQL. No query here has a ?
// inside a string literal, so a plain scan is enough.
func (s *sqlStore) q(query string) string {
	if s.dialect != goose.DialectPostgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for {
		i := strings.IndexByte(query, '?')
		if i < 0 {
			b.WriteString(query)
			return b.String()
		}
		n++
		b.WriteString(query[:i])
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
		query = query[i+1:]
	}
}

// inTx runs fn in a write transaction. fn returns errors already mapped to apperr.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return dbError(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return dbError(err)
	}
	return nil
}

// execOne runs a write that must touch exactly one row, else KindNotFound.
func (s *sqlStore) execOne(ctx context.Context, notFound, query string, args ...any) error {
	res, err := s.w.ExecContext(ctx, s.q(query), args...)
	if err != nil {
		return dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return dbError(err)
	}
	if n == 0 {
		return apperr.New(apperr.KindNotFound, notFound)
	}
	return nil
}

// Time conversions. now drops the monotonic reading so a time we set on a struct
// equals the one read back.
func now() time.Time { return time.Now().UTC().Round(0) }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

type scanner interface{ Scan(dest ...any) error }

// collect reads every row of a query with scan; err is the query's own error, so
// a call site is `rows, err := ...QueryContext(...); return collect(rows, err, scanX)`.
func collect[T any](rows *sql.Rows, err error, scan func(scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, dbError(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return out, nil
}

// Users

const userColumns = `id, username, password_hash, role, created_at, updated_at, last_login_at, access_generation, disabled_at, email, email_verified_at, second_factor`

// scanUser reads userColumns, then any extra columns into extra.
func scanUser(row scanner, extra ...any) (User, error) {
	var (
		u                User
		created, updated int64
		lastLogin        sql.NullInt64
		disabled         sql.NullInt64
		email            sql.NullString
		verified         sql.NullInt64
	)
	dest := append([]any{&u.ID, &u.Username, &u.PasswordHash, &u.Role, &created, &updated, &lastLogin, &u.AccessGeneration, &disabled,
		&email, &verified, &u.SecondFactor}, extra...)
	if err := row.Scan(dest...); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromNanos(created), fromNanos(updated), fromNullNanos(lastLogin)
	u.DisabledAt = fromNullNanos(disabled)
	u.Email, u.EmailVerifiedAt = email.String, fromNullNanos(verified)
	return u, nil
}

func (s *sqlStore) CreateUser(ctx context.Context, u *User) error {
	return s.insertUser(ctx, s.w, u)
}

// insertUser inserts u (in tx, or on its own) and sets its ID and times.
func (s *sqlStore) insertUser(ctx context.Context, db interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, u *User) error {
	t := now()
	err := db.QueryRowContext(ctx, s.q(`
		INSERT INTO users (username, password_hash, role, created_at, updated_at, last_login_at, email, email_verified_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		u.Username, u.PasswordHash, u.Role, t.UnixNano(), t.UnixNano(), nullNanos(u.LastLoginAt),
		nullEmail(u.Email), nullNanos(u.EmailVerifiedAt),
	).Scan(&u.ID)
	if err != nil {
		if constraintOf(err) == uniqueViolation {
			return userConflict(err)
		}
		return dbError(err)
	}
	u.CreatedAt, u.UpdatedAt = t, t
	return nil
}

func (s *sqlStore) UserByUsername(ctx context.Context, username string) (User, error) {
	// SQLite compares with the column's NOCASE collation; PostgreSQL needs lower()
	// on both sides to use its unique index on lower(username).
	where := `username = ?`
	if s.dialect == goose.DialectPostgres {
		where = `lower(username) = lower(?)`
	}
	return retryRead(ctx, func() (User, error) { return s.user(ctx, where, username) })
}

func (s *sqlStore) UserByID(ctx context.Context, id int64) (User, error) {
	return retryRead(ctx, func() (User, error) { return s.user(ctx, `id = ?`, id) })
}

func (s *sqlStore) user(ctx context.Context, where string, args ...any) (User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, s.q(`SELECT `+userColumns+` FROM users WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, apperr.New(apperr.KindNotFound, "user not found")
	}
	if err != nil {
		return User{}, dbError(err)
	}
	return u, nil
}

func (s *sqlStore) ListUsers(ctx context.Context) ([]UserSummary, error) {
	return retryRead(ctx, func() ([]UserSummary, error) { return s.listUsers(ctx) })
}

// userSummaries selects users with their active key count; where filters them.
const userSummaries = `
	SELECT u.id, u.username, u.password_hash, u.role, u.created_at, u.updated_at, u.last_login_at, u.access_generation,
	       u.disabled_at, u.email, u.email_verified_at, u.second_factor, COUNT(k.id)
	FROM users u
	LEFT JOIN api_keys k ON k.user_id = u.id
	     AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)`

func (s *sqlStore) UserSummary(ctx context.Context, id int64) (UserSummary, error) {
	return retryRead(ctx, func() (UserSummary, error) {
		var sum UserSummary
		var err error
		sum.User, err = scanUser(s.r.QueryRowContext(ctx, s.q(userSummaries+` WHERE u.id = ? GROUP BY u.id`),
			now().UnixNano(), id), &sum.ActiveKeys)
		if errors.Is(err, sql.ErrNoRows) {
			return UserSummary{}, apperr.New(apperr.KindNotFound, "user not found")
		}
		if err != nil {
			return UserSummary{}, dbError(err)
		}
		return sum, nil
	})
}

func (s *sqlStore) listUsers(ctx context.Context) ([]UserSummary, error) {
	rows, err := s.r.QueryContext(ctx, s.q(userSummaries+`
		GROUP BY u.id
		ORDER BY lower(u.username), u.id`), now().UnixNano())
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var users []UserSummary
	for rows.Next() {
		var sum UserSummary
		if sum.User, err = scanUser(rows, &sum.ActiveKeys); err != nil {
			return nil, dbError(err)
		}
		users = append(users, sum)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return users, nil
}

func (s *sqlStore) UpdatePasswordHash(ctx context.Context, userID int64, hash string) (int64, error) {
	return s.generation(ctx, `UPDATE users SET password_hash = ?, updated_at = ?, access_generation = access_generation + 1
		WHERE id = ? RETURNING access_generation`, hash, now().UnixNano(), userID)
}

func (s *sqlStore) EndAccess(ctx context.Context, userID int64) (int64, error) {
	return s.generation(ctx, `UPDATE users SET access_generation = access_generation + 1
		WHERE id = ? RETURNING access_generation`, userID)
}

func (s *sqlStore) AccessGeneration(ctx context.Context, userID int64) (int64, error) {
	var gen int64
	err := s.r.QueryRowContext(ctx, s.q(`SELECT access_generation FROM users WHERE id = ?`), userID).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.KindNotFound, "user not found")
	}
	if err != nil {
		return 0, dbError(err)
	}
	return gen, nil
}

// generation runs a write returning a user's access generation.
func (s *sqlStore) generation(ctx context.Context, query string, args ...any) (int64, error) {
	var gen int64
	err := s.w.QueryRowContext(ctx, s.q(query), args...).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, apperr.New(apperr.KindNotFound, "user not found")
	}
	if err != nil {
		return 0, dbError(err)
	}
	return gen, nil
}

// lockForAdminChange, inside tx, locks the user's row and the row of every enabled
// admin (PostgreSQL; SQLite's one writer already serialises the transaction), and
// returns the user and how many enabled admins there are besides them. The rows
// are locked in ID order, so two such transactions cannot deadlock; one that
// waited sees the rows as the other left them, so of two admins demoting each
// other at once the second finds itself the last.
func (s *sqlStore) lockForAdminChange(ctx context.Context, tx *sql.Tx, userID int64) (User, int, error) {
	query := `SELECT ` + userColumns + ` FROM users WHERE id = ? OR (role = ? AND disabled_at IS NULL) ORDER BY id`
	if s.dialect == goose.DialectPostgres {
		query += ` FOR UPDATE`
	}
	rows, err := tx.QueryContext(ctx, s.q(query), userID, RoleAdmin)
	if err != nil {
		return User{}, 0, dbError(err)
	}
	defer rows.Close()
	var (
		target User
		found  bool
		others int
	)
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return User{}, 0, dbError(err)
		}
		switch {
		case u.ID == userID:
			target, found = u, true
		case u.Role == RoleAdmin && u.DisabledAt == nil:
			others++
		}
	}
	if err := rows.Err(); err != nil {
		return User{}, 0, dbError(err)
	}
	if !found {
		return User{}, 0, apperr.New(apperr.KindNotFound, "user not found")
	}
	return target, others, nil
}

// enabledAdmin reports whether u counts towards the last-admin rule.
func enabledAdmin(u User) bool { return u.Role == RoleAdmin && u.DisabledAt == nil }

func (s *sqlStore) SetDisabled(ctx context.Context, userID int64, at *time.Time) (User, error) {
	var u User
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		target, others, err := s.lockForAdminChange(ctx, tx, userID)
		if err != nil {
			return err
		}
		if at != nil && enabledAdmin(target) && others == 0 {
			return ErrLastAdminDisable
		}
		u, err = scanUser(tx.QueryRowContext(ctx, s.q(`UPDATE users SET disabled_at = `+disabledValue(at)+`, updated_at = ?
			WHERE id = ? RETURNING `+userColumns), disabledArgs(at, now(), userID)...))
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return u, err
}

// disabledValue is what SetDisabled writes: a user already disabled keeps the time
// it was first disabled.
func disabledValue(at *time.Time) string {
	if at == nil {
		return `NULL`
	}
	return `COALESCE(disabled_at, ?)`
}

func disabledArgs(at *time.Time, updated time.Time, userID int64) []any {
	if at == nil {
		return []any{updated.UnixNano(), userID}
	}
	return []any{at.UnixNano(), updated.UnixNano(), userID}
}

func (s *sqlStore) SetRole(ctx context.Context, userID int64, role string) (User, string, error) {
	var (
		u        User
		previous string
	)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		target, others, err := s.lockForAdminChange(ctx, tx, userID)
		if err != nil {
			return err
		}
		previous = target.Role
		if role != RoleAdmin && enabledAdmin(target) && others == 0 {
			return ErrLastAdminDemote
		}
		u, err = scanUser(tx.QueryRowContext(ctx, s.q(`UPDATE users SET role = ?, updated_at = ?
			WHERE id = ? RETURNING `+userColumns), role, now().UnixNano(), userID))
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return u, previous, err
}

func (s *sqlStore) UpgradePasswordHash(ctx context.Context, userID int64, oldHash, newHash string) (bool, error) {
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ? AND password_hash = ?`),
		newHash, now().UnixNano(), userID, oldHash)
	if err != nil {
		return false, dbError(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, dbError(err)
	}
	return n == 1, nil
}

func (s *sqlStore) RecordLogin(ctx context.Context, userID int64, at time.Time) error {
	return s.execOne(ctx, "user not found",
		`UPDATE users SET last_login_at = ? WHERE id = ?`, at.UnixNano(), userID)
}

func (s *sqlStore) MaxPasswordCost(ctx context.Context) (int, error) {
	// A bcrypt hash reads "$2a$12$...": the cost is characters 5 and 6.
	var cost sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT MAX(substr(password_hash, 5, 2)) FROM users WHERE password_hash LIKE '$2%$%'`).Scan(&cost)
	if err != nil {
		return 0, dbError(err)
	}
	n, _ := strconv.Atoi(cost.String)
	return n, nil
}

// API keys

const keySelect = `
	SELECT k.id, k.user_id, u.username, u.role, u.access_generation, u.disabled_at, k.name, k.prefix, k.digest, k.permissions,
	       k.created_at, k.expires_at, k.last_used_at, k.revoked_at
	FROM api_keys k JOIN users u ON u.id = k.user_id`

func scanAPIKey(row scanner) (APIKey, error) {
	var (
		k                          APIKey
		perms                      string
		created                    int64
		expires, lastUsed, revoked sql.NullInt64
		disabled                   sql.NullInt64
	)
	err := row.Scan(&k.ID, &k.UserID, &k.Username, &k.UserRole, &k.UserGeneration, &disabled, &k.Name, &k.Prefix, &k.Digest, &perms,
		&created, &expires, &lastUsed, &revoked)
	if err != nil {
		return APIKey{}, err
	}
	k.UserDisabledAt = fromNullNanos(disabled)
	k.Permissions = splitPermissions(perms)
	k.CreatedAt = fromNanos(created)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromNullNanos(expires), fromNullNanos(lastUsed), fromNullNanos(revoked)
	return k, nil
}

// splitPermissions returns an empty, non-nil slice for no permissions, so that it
// encodes as [] rather than null.
func splitPermissions(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

func (s *sqlStore) CreateAPIKey(ctx context.Context, k *APIKey) error {
	// Permissions are stored comma-separated: a comma inside one would read back
	// as two permissions, so it must never get in.
	if slices.ContainsFunc(k.Permissions, func(p string) bool { return p == "" || strings.Contains(p, ",") }) {
		return apperr.Validation("invalid permissions",
			apperr.FieldError{Field: "permissions", Message: "must not be empty or contain a comma"})
	}
	t := now()
	// The count and the insert are one transaction, serialised per user: PostgreSQL
	// by the lock on the user's row, SQLite by its single writer. Otherwise two
	// creations at 99 keys would both see room for one.
	lockUser := `SELECT id FROM users WHERE id = ?`
	if s.dialect == goose.DialectPostgres {
		lockUser += ` FOR UPDATE`
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, s.q(lockUser), k.UserID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.KindNotFound, "user not found")
		}
		if err != nil {
			return dbError(err)
		}
		var active int
		err = tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM api_keys
			WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`),
			k.UserID, t.UnixNano()).Scan(&active)
		if err != nil {
			return dbError(err)
		}
		if active >= MaxActiveKeysPerUser && k.RevokedAt == nil {
			return ErrTooManyKeys
		}
		err = tx.QueryRowContext(ctx, s.q(`
			INSERT INTO api_keys (user_id, name, prefix, digest, permissions, created_at, expires_at, last_used_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			k.UserID, k.Name, k.Prefix, k.Digest, strings.Join(k.Permissions, ","), t.UnixNano(),
			nullNanos(k.ExpiresAt), nullNanos(k.LastUsedAt), nullNanos(k.RevokedAt),
		).Scan(&k.ID)
		if err != nil {
			switch constraintOf(err) {
			case uniqueViolation:
				return apperr.New(apperr.KindConflict, "API key already exists")
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
	k.CreatedAt = t
	return nil
}

func (s *sqlStore) APIKeyByDigest(ctx context.Context, digest string) (APIKey, error) {
	return retryRead(ctx, func() (APIKey, error) { return s.apiKeyByDigest(ctx, digest) })
}

func (s *sqlStore) apiKeyByDigest(ctx context.Context, digest string) (APIKey, error) {
	k, err := scanAPIKey(s.r.QueryRowContext(ctx, s.q(keySelect+` WHERE k.digest = ?`), digest))
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, apperr.New(apperr.KindNotFound, "API key not found")
	}
	if err != nil {
		return APIKey{}, dbError(err)
	}
	return k, nil
}

func (s *sqlStore) ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error) {
	return retryRead(ctx, func() ([]APIKey, error) { return s.listAPIKeys(ctx, userID) })
}

func (s *sqlStore) listAPIKeys(ctx context.Context, userID int64) ([]APIKey, error) {
	query, args := keySelect, []any{}
	if userID != 0 {
		query, args = query+` WHERE k.user_id = ?`, append(args, userID)
	}
	rows, err := s.r.QueryContext(ctx, s.q(query+` ORDER BY k.created_at DESC, k.id DESC`), args...)
	return collect(rows, err, scanAPIKey)
}

func (s *sqlStore) RevokeAPIKey(ctx context.Context, userID, keyID int64, at time.Time) (APIKey, error) {
	// The same filter for the update and the read-back, so another user's key is
	// neither revoked nor shown.
	where, keyWhere, args := ` WHERE id = ?`, ` WHERE k.id = ?`, []any{keyID}
	if userID != 0 {
		where, keyWhere, args = where+` AND user_id = ?`, keyWhere+` AND k.user_id = ?`, append(args, userID)
	}
	var k APIKey
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Only the first revocation counts: revoking again keeps the original time.
		_, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked_at = ?`+where+` AND revoked_at IS NULL`),
			append([]any{at.UnixNano()}, args...)...)
		if err != nil {
			return dbError(err)
		}
		k, err = scanAPIKey(tx.QueryRowContext(ctx, s.q(keySelect+keyWhere), args...))
		if errors.Is(err, sql.ErrNoRows) {
			return apperr.New(apperr.KindNotFound, "API key not found")
		}
		if err != nil {
			return dbError(err)
		}
		return nil
	})
	return k, err
}

func (s *sqlStore) TouchAPIKeys(ctx context.Context, lastUsed map[int64]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	// A fixed order, so two PostgreSQL instances touching the same keys cannot
	// deadlock on each other's row locks.
	ids := make([]int64, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return s.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, s.q(`
			UPDATE api_keys SET last_used_at = ?
			WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`))
		if err != nil {
			return dbError(err)
		}
		defer stmt.Close()
		for _, id := range ids {
			at := lastUsed[id].UnixNano()
			if _, err := stmt.ExecContext(ctx, at, id, at); err != nil {
				return dbError(err)
			}
		}
		return nil
	})
}

// Audit

func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEvent) error {
	if e.At.IsZero() {
		e.At = now()
	}
	_, err := s.w.ExecContext(ctx, s.q(`
		INSERT INTO audit_events (at, actor, action, client_ip, outcome, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		e.At.UnixNano(), e.Actor, e.Action, e.ClientIP, e.Outcome, e.Detail)
	if err != nil {
		return dbError(err)
	}
	return nil
}

func (s *sqlStore) ListAudit(ctx context.Context, actor string, limit int) ([]AuditEvent, error) {
	return s.AuditPage(ctx, AuditFilter{Actor: actor}, limit)
}

func (s *sqlStore) AuditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	return retryRead(ctx, func() ([]AuditEvent, error) { return s.auditPage(ctx, f, limit) })
}

// auditPage serves every filter from the two indexes of 00001: audit_events_at
// walks the whole log newest first, audit_events_actor_at one actor's (on SQLite
// both end in the rowid, which is id, so the order needs no sort; PostgreSQL adds
// an incremental sort on id among equal times, which are rare). Action and outcome
// are checked on the rows the walk meets.
func (s *sqlStore) auditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error) {
	var (
		where []string
		args  []any
	)
	for _, eq := range []struct{ column, value string }{
		{"actor", f.Actor}, {"action", f.Action}, {"outcome", f.Outcome},
	} {
		if eq.value != "" {
			where, args = append(where, eq.column+" = ?"), append(args, eq.value)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, f.Until.UnixNano())
	}
	if b := f.Before; b != nil {
		// (at, id) < (b.At, b.ID), spelt so that at <= ? bounds the index scan.
		at := b.At.UnixNano()
		where, args = append(where, "at <= ? AND (at < ? OR id < ?)"), append(args, at, at, b.ID)
	}
	query := `SELECT id, at, actor, action, client_ip, outcome, detail FROM audit_events`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, min(max(limit, 1), MaxAuditPage))
	rows, err := s.r.QueryContext(ctx, s.q(query+` ORDER BY at DESC, id DESC LIMIT ?`), args...)
	if err != nil {
		return nil, dbError(err)
	}
	defer rows.Close()
	var events []AuditEvent
	for rows.Next() {
		var (
			e  AuditEvent
			at int64
		)
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.ClientIP, &e.Outcome, &e.Detail); err != nil {
			return nil, dbError(err)
		}
		e.At = fromNanos(at)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(err)
	}
	return events, nil
}

func (s *sqlStore) PruneAudit(ctx context.Context, before time.Time) (int64, error) {
	// The subquery bounds each DELETE (neither database has DELETE ... LIMIT in
	// both dialects); audit_events_at serves it.
	query := s.q(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < ? LIMIT ?)`)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, dbError(err)
		}
		res, err := s.w.ExecContext(ctx, query, before.UnixNano(), PruneBatch)
		if err != nil {
			return total, dbError(err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, dbError(err)
		}
		total += n
		if n < PruneBatch {
			return total, nil
		}
	}
}

// Secrets

func (s *sqlStore) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, "could not make a secret", err)
	}
	// Whoever inserts first wins; everyone reads the winner's.
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO app_secrets (name, value, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING`), name, fresh, now().UnixNano()); err != nil {
		return nil, dbError(err)
	}
	var value []byte
	if err := s.w.QueryRowContext(ctx, s.q(`SELECT value FROM app_secrets WHERE name = ?`), name).Scan(&value); err != nil {
		return nil, dbError(err)
	}
	return value, nil
}

func (s *sqlStore) Ping(ctx context.Context) error {
	_, err := retryRead(ctx, func() (struct{}, error) {
		if err := s.r.PingContext(ctx); err != nil {
			return struct{}{}, apperr.Wrap(apperr.KindUnavailable, "database unavailable", err)
		}
		return struct{}{}, nil
	})
	return err
}

// Close closes the readers first, so that the writer's is the last connection and
// SQLite checkpoints the WAL into the database file.
func (s *sqlStore) Close() error {
	var err error
	if s.r != s.w {
		err = s.r.Close()
	}
	return errors.Join(err, s.w.Close())
}
