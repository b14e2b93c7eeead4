// Package store keeps users, API keys and audit events in SQL (SQLite by default,
// PostgreSQL for several instances). Callers see only the Store interface.
package store

import (
	"context"
	"fmt"
	"time"

	"fiberauth/internal/apperr"
)

// Roles a user can have.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Permissions an API key can carry.
const (
	PermRead  = "read"
	PermWrite = "write"
)

// User is a person or service that can log in.
type User struct {
	ID           int64
	Username     string // unique, compared case-insensitively
	PasswordHash string // bcrypt
	Role         string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  *time.Time
	// AccessGeneration moves on each time the user's access is ended everywhere
	// (password change, logout everywhere, ...): whatever was granted under an
	// earlier one is void.
	AccessGeneration int64
	// DisabledAt is when an admin disabled the user; nil while they may log in.
	DisabledAt *time.Time
	// Email is "" for none; stored normalised (recovery.NormalizeEmail), unique
	// ignoring case. EmailVerifiedAt is when a mailed link proved it; nil: not yet.
	Email           string
	EmailVerifiedAt *time.Time
	// SecondFactor is the user's second factor ("totp"), "" for none; read with
	// the password hash (secondfactor.go).
	SecondFactor string
}

// UserSummary is a user as the admin list shows it.
type UserSummary struct {
	User
	ActiveKeys int // keys neither revoked nor expired
}

// APIKey is a stored key. The secret itself is never stored: only its SHA-256 digest.
type APIKey struct {
	ID       int64
	UserID   int64
	Username string // owner's username (read-only, filled by queries)
	UserRole string // owner's role (read-only, filled by queries)
	// UserGeneration is the owner's AccessGeneration as of this read (read-only).
	UserGeneration int64
	// UserDisabledAt is the owner's DisabledAt as of this read (read-only).
	UserDisabledAt *time.Time
	Name           string
	Prefix         string // the first characters of the key, safe to display
	Digest         string // lowercase hex SHA-256 of the whole key
	Permissions    []string
	CreatedAt      time.Time
	ExpiresAt      *time.Time
	LastUsedAt     *time.Time
	RevokedAt      *time.Time
}

// MaxActiveKeysPerUser bounds the keys (neither revoked nor expired) one user
// holds: each one costs a row, a line on the dashboard and a cache entry, and a
// script creating keys in a loop would otherwise grow them without end.
const MaxActiveKeysPerUser = 100

// ErrTooManyKeys refuses a key beyond MaxActiveKeysPerUser.
var ErrTooManyKeys = apperr.Validation("Validation error", apperr.FieldError{Field: "keys",
	Message: fmt.Sprintf("at most %d active keys; revoke one first", MaxActiveKeysPerUser)})

// The last enabled admin is never demoted or disabled, so that someone can always
// administer the service from the browser (the CLI can mend it either way).
var (
	ErrLastAdminDemote = apperr.Validation("The last admin cannot be demoted: make another user an admin first",
		apperr.FieldError{Field: "role", Message: "cannot change: this is the only enabled admin"})
	ErrLastAdminDisable = apperr.Validation("The last admin cannot be disabled: make another user an admin first",
		apperr.FieldError{Field: "id", Message: "is the only enabled admin"})
)

// PruneBatch is how many audit events one statement of PruneAudit deletes.
const PruneBatch = 1000

// AuditEvent is one security-relevant thing that happened.
type AuditEvent struct {
	ID       int64
	At       time.Time
	Actor    string // username, or "" when unknown
	Action   string // e.g. "login", "logout", "key.create"
	ClientIP string
	Outcome  string // "success" or "failure"
	Detail   string
}

// MaxAuditPage bounds the events one AuditPage or ListAudit call returns.
const MaxAuditPage = 1000

// AuditFilter selects audit events: every field that is set must match, and the
// zero filter matches every event.
type AuditFilter struct {
	Actor   string    // exactly, as recorded
	Action  string    // exactly
	Outcome string    // "success" or "failure"
	Since   time.Time // At >= Since, when set
	Until   time.Time // At < Until, when set
	// Before is a keyset position: only events older than it in (At, ID) order.
	// A page that starts after the previous page's last event neither repeats nor
	// skips one, however many events were added in between.
	Before *AuditPosition
}

// AuditPosition is an event's place in the newest-first order of the audit log.
type AuditPosition struct {
	At time.Time
	ID int64
}

// Store is what the rest of the service needs from the database. Errors are
// *apperr.Error: KindNotFound for a missing row, KindConflict for a taken username,
// KindUnavailable / KindInternal for database trouble.
type Store interface {
	// CreateUser inserts u and sets its ID and times.
	CreateUser(ctx context.Context, u *User) error
	// UserByUsername finds a user, ignoring case.
	UserByUsername(ctx context.Context, username string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	// ListUsers returns every user ordered by username, with their active key count.
	ListUsers(ctx context.Context) ([]UserSummary, error)
	// UserSummary returns one user with their active key count.
	UserSummary(ctx context.Context, id int64) (UserSummary, error)
	// SetDisabled disables the user (at set; one already disabled keeps the time it
	// was first disabled) or enables them (at nil), and returns the user as written.
	// Disabling the last enabled admin is ErrLastAdminDisable. It does not end the
	// user's access: the caller does (auth's EndAccess).
	SetDisabled(ctx context.Context, userID int64, at *time.Time) (User, error)
	// SetRole gives the user a role and returns the user as written and the role
	// they had. Demoting the last enabled admin is ErrLastAdminDemote, decided under
	// a lock on every enabled admin's row, so that two admins demoting each other at
	// once cannot both succeed.
	SetRole(ctx context.Context, userID int64, role string) (u User, previous string, err error)
	// UpdatePasswordHash sets a new password and, in the same statement, moves the
	// user's access generation on, returning the new one: nothing verified under
	// the old password outlives the change.
	UpdatePasswordHash(ctx context.Context, userID int64, hash string) (generation int64, err error)
	// EndAccess moves the user's access generation on and returns the new one.
	EndAccess(ctx context.Context, userID int64) (generation int64, err error)
	// AccessGeneration reads the user's access generation; KindNotFound for no user.
	AccessGeneration(ctx context.Context, userID int64) (int64, error)
	// UpgradePasswordHash replaces a hash only if it is still oldHash, so that a
	// cost upgrade racing a password change can never bring the old password back.
	// It reports whether it replaced it.
	UpgradePasswordHash(ctx context.Context, userID int64, oldHash, newHash string) (bool, error)
	RecordLogin(ctx context.Context, userID int64, at time.Time) error
	// MaxPasswordCost is the highest bcrypt cost among the stored hashes, 0 for none.
	MaxPasswordCost(ctx context.Context) (int, error)

	// CreateAPIKey inserts k and sets its ID and CreatedAt; KindConflict on a duplicate
	// digest, ErrTooManyKeys when the user already has MaxActiveKeysPerUser active keys
	// (the count and the insert are atomic).
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByDigest finds a key by digest, revoked and expired ones included (the caller decides).
	APIKeyByDigest(ctx context.Context, digest string) (APIKey, error)
	// ListAPIKeys returns a user's keys, newest first; userID 0 lists every key.
	ListAPIKeys(ctx context.Context, userID int64) ([]APIKey, error)
	// RevokeAPIKey marks a key revoked; KindNotFound when it does not exist or, with
	// userID != 0, is not that user's. Revoking twice is not an error.
	RevokeAPIKey(ctx context.Context, userID, keyID int64, at time.Time) (APIKey, error)
	// TouchAPIKeys records last-used times for many keys in one transaction.
	TouchAPIKeys(ctx context.Context, lastUsed map[int64]time.Time) error

	AppendAudit(ctx context.Context, e AuditEvent) error
	// ListAudit returns the newest events first; actor "" means everyone's.
	ListAudit(ctx context.Context, actor string, limit int) ([]AuditEvent, error)
	// AuditPage returns up to limit (1..MaxAuditPage) events matching f, newest
	// first by (At, ID), and only those older than f.Before when it is set.
	AuditPage(ctx context.Context, f AuditFilter, limit int) ([]AuditEvent, error)
	// PruneAudit deletes the events from before the given time, in batches of
	// PruneBatch (each its own statement, so no lock is held for long), and returns
	// how many it deleted. Cancelling ctx stops it between batches.
	PruneAudit(ctx context.Context, before time.Time) (int64, error)

	// Secret returns the named secret, making it (size random bytes) if no instance
	// has yet: every instance gets the same one.
	Secret(ctx context.Context, name string, size int) ([]byte, error)

	// Each capability beyond the password keeps its queries in its own file.
	SecondFactorStore // secondfactor.go: TOTP and recovery codes
	PasskeyStore      // passkeys.go: WebAuthn credentials
	TokenStore        // tokens.go: signing keys and refresh-token families
	MailStore         // mail.go: email addresses, reset tokens and the outbox

	Ping(ctx context.Context) error
	Close() error
}
