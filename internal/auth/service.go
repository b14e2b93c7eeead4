// Package auth verifies passwords and API keys and manages users and keys. It is the
// only package the web layer asks about identity; it alone talks to the store about it.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sync/singleflight"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// ErrInvalidCredentials is the one answer for a wrong username or password, whichever it was.
var ErrInvalidCredentials = apperr.New(apperr.KindUnauthenticated, "Invalid credentials")

// ErrWrongCurrentPassword refuses a password change; it is a failed login in all but
// name, and the web layer throttles it as one.
var ErrWrongCurrentPassword = apperr.Validation("Validation error",
	apperr.FieldError{Field: "current_password", Message: "is not your current password"})

// ErrAccountDisabled refuses a right password or a valid key of a user an admin
// has disabled. It is not a failed login: the credential was right.
var ErrAccountDisabled = apperr.New(apperr.KindForbidden, "Account disabled")

// ErrInvalidAPIKey is the one answer for an unknown, revoked or expired key.
// ErrSecondFactorRequired answers a correct password where no code can follow it
// (HTTP Basic, the token endpoint's password grant) for a user with a second factor.
var ErrSecondFactorRequired = apperr.New(apperr.KindForbidden, "Second factor required: use a session, a passkey or an API key")

var ErrInvalidAPIKey = apperr.New(apperr.KindUnauthenticated, "Invalid API Key")

// Limits on what we accept as a credential before looking anything up.
const (
	maxUsernameBytes = 64
	maxAPIKeyBytes   = 256
	keyPrefixLive    = "sk_live_"
)

var usernamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$`)

// Options configures a Service.
type Options struct {
	BcryptCost int
	// CredentialTTL bounds how long a verified Basic credential is trusted without
	// another bcrypt compare. Zero disables the cache.
	CredentialTTL time.Duration
	// KeyCacheTTL bounds how long what the store said about an API key is trusted
	// without asking again: zero means DefaultKeyCacheTTL, negative disables the
	// cache. (Unlike CredentialTTL, on by default: every Service, tests' included,
	// should behave as production does.)
	KeyCacheTTL time.Duration
	// Shared is the state every instance sees (Redis with REDIS_URL, else this
	// process's memory): users' access generations and key revoke markers live
	// there, and every cache hit checks them, so a change made by another instance
	// counts on its very next request. Required.
	Shared SharedStore
	// GenerationTTL bounds how long the shared copy of a user's access generation is
	// trusted before it is read from the database again (access.go); zero means
	// DefaultGenerationTTL.
	GenerationTTL time.Duration
	// KeyCacheSize bounds the number of keys, and separately of unknown digests,
	// remembered; zero means DefaultKeyCacheSize.
	KeyCacheSize int
	// UsageFlushInterval is how often last-used times of API keys are written.
	UsageFlushInterval time.Duration
	Logger             *slog.Logger
	Now                func() time.Time // for tests; time.Now by default
	// Observer is told of cache lookups and bcrypt times (observer.go); nil: nobody.
	Observer Observer
}

// Service is the identity service: verification, users, keys and the audit log.
type Service struct {
	store  store.Store
	hasher hasher
	creds  *credentialCache
	// verifying lets concurrent misses of one credential share a bcrypt compare.
	verifying singleflight.Group
	keys      *keyCache
	shared    SharedStore
	access    generations
	usage     *usageRecorder
	log       *slog.Logger
	now       func() time.Time
	observe   Observer
}

// NewService builds a Service over st. Call Close to flush pending writes.
func NewService(ctx context.Context, st store.Store, opts Options) (*Service, error) {
	if opts.Shared == nil {
		return nil, errors.New("auth: Options.Shared is required")
	}
	// Unknown users are checked against a hash as costly as the costliest stored
	// one, so that a user with an older (higher) cost cannot be told from nobody.
	storedCost, err := st.MaxPasswordCost(ctx)
	if err != nil {
		return nil, err
	}
	h, err := newHasher(opts.BcryptCost, storedCost)
	if err != nil {
		return nil, err
	}
	if opts.GenerationTTL <= 0 {
		opts.GenerationTTL = DefaultGenerationTTL
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.UsageFlushInterval <= 0 {
		opts.UsageFlushInterval = 5 * time.Second
	}
	if opts.KeyCacheTTL == 0 {
		opts.KeyCacheTTL = DefaultKeyCacheTTL
	}
	if opts.KeyCacheSize <= 0 {
		opts.KeyCacheSize = DefaultKeyCacheSize
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	h.compare = timedCompare(h.compare, opts.Observer)
	s := &Service{store: st, hasher: h, log: opts.Logger, now: opts.Now, observe: opts.Observer}
	s.creds = newCredentialCache(opts.CredentialTTL, opts.Now)
	s.keys = newKeyCache(opts.KeyCacheTTL, opts.KeyCacheSize)
	s.shared = opts.Shared
	s.access = generations{shared: opts.Shared, store: st, ttl: opts.GenerationTTL}
	s.usage = newUsageRecorder(st, opts.UsageFlushInterval, opts.Logger)
	return s, nil
}

// Close writes pending last-used times and stops the background writer.
func (s *Service) Close() error { return s.usage.Close() }

// Ready reports whether the store answers.
func (s *Service) Ready(ctx context.Context) error { return s.store.Ping(ctx) }

// VerifyPassword checks a username and password. Unknown users and wrong passwords
// take the same time and give the same error. A hash made at a lower cost than the
// configured one is upgraded. A credential that passed is cached (credentialCache),
// so a Basic client repeating it pays for bcrypt once per CredentialTTL.
func (s *Service) VerifyPassword(ctx context.Context, username, password string) (Principal, error) {
	k := s.creds.mac(username, password)
	p, ok := s.cachedPassword(ctx, k)
	if !isRepeatedCheck(ctx) {
		s.observe.CacheLookup(CacheCredential, ok)
	}
	if ok {
		return passwordEnough(p)
	}
	// Requests carrying the same credential at the same time (a client's parallel
	// connections, or all those in flight when its entry expires) share one bcrypt
	// instead of queueing one each. The shared work must not end with the first
	// caller's request, so it runs without that request's cancellation.
	v, err, _ := s.verifying.Do(string(k[:]), func() (any, error) {
		if p, ok := s.cachedPassword(ctx, k); ok {
			return p, nil
		}
		p, err := s.checkPassword(context.WithoutCancel(ctx), username, password)
		if err == nil {
			s.creds.Put(k, p)
		}
		return p, err
	})
	if err != nil {
		return Principal{}, err
	}
	return passwordEnough(v.(Principal))
}

// passwordEnough refuses a right password of a user with a second factor where no
// code can follow it (VerifyPassword's callers: HTTP Basic, the token grant).
func passwordEnough(p Principal) (Principal, error) {
	if p.SecondFactor != "" {
		return Principal{}, ErrSecondFactorRequired
	}
	return p, nil
}

// cachedPassword answers from the credential cache when the entry is current: not
// expired, and granted under the user's current access generation.
func (s *Service) cachedPassword(ctx context.Context, k credKey) (Principal, bool) {
	e, ok := s.creds.Get(k)
	if !ok {
		return Principal{}, false
	}
	gen, _, err := s.access.current(ctx, e.principal.UserID)
	if err != nil {
		return Principal{}, false
	}
	if gen != e.principal.Generation {
		s.creds.Drop(k)
		return Principal{}, false
	}
	return e.principal, true
}

// RecentlyVerified reports whether VerifyPassword would answer from its cache: the
// credential passed bcrypt less than CredentialTTL ago and the user's access has not
// ended since. It is never true for a wrong password.
func (s *Service) RecentlyVerified(username, password string) bool {
	_, ok := s.cachedPassword(context.Background(), s.creds.mac(username, password))
	return ok
}

// checkPassword is VerifyPassword without the cache: always one bcrypt compare.
func (s *Service) checkPassword(ctx context.Context, username, password string) (Principal, error) {
	var u store.User
	var hash []byte
	if validLookupName(username) {
		found, err := s.store.UserByUsername(ctx, username)
		switch {
		case err == nil:
			u, hash = found, []byte(found.PasswordHash)
		case !apperr.Is(err, apperr.KindNotFound):
			return Principal{}, err
		}
	}
	if !s.hasher.Check(hash, password) {
		return Principal{}, ErrInvalidCredentials
	}
	// Only a right password learns that the account is disabled; a wrong one stays
	// the ordinary failure, so this tells a guesser nothing.
	if u.DisabledAt != nil {
		return Principal{}, ErrAccountDisabled
	}
	if s.hasher.NeedsRehash(hash) {
		s.rehash(ctx, u.ID, u.PasswordHash, password)
	}
	return userPrincipal(u, MethodBasic), nil
}

// rehash upgrades a stored hash; failing to do so must not fail the login.
func (s *Service) rehash(ctx context.Context, userID int64, oldHash, password string) {
	newHash, err := s.hasher.Hash(password)
	if err == nil {
		_, err = s.store.UpgradePasswordHash(ctx, userID, oldHash, newHash)
	}
	if err != nil {
		s.log.WarnContext(ctx, "password rehash failed", "user_id", userID, "err", err)
	}
}

// validLookupName filters out names that cannot exist, before they reach the database.
func validLookupName(username string) bool {
	return username != "" && len(username) <= maxUsernameBytes && utf8.ValidString(username) &&
		!strings.ContainsRune(username, 0)
}

// Login verifies a password for an interactive login and records it. It always pays
// for bcrypt, cache or not: a login is rare for each user, and if a repeated one were
// free, whoever holds a password could mint sessions as fast as the server answers.
func (s *Service) Login(ctx context.Context, username, password, clientIP string) (Principal, error) {
	p, err := s.checkPassword(ctx, username, password)
	if err != nil {
		switch {
		case errors.Is(err, ErrInvalidCredentials):
			s.Audit(ctx, store.AuditEvent{Actor: auditName(username), Action: "login", ClientIP: clientIP, Outcome: "failure", Detail: "invalid credentials"})
		case errors.Is(err, ErrAccountDisabled):
			s.Audit(ctx, store.AuditEvent{Actor: auditName(username), Action: "login", ClientIP: clientIP, Outcome: "failure", Detail: "account disabled"})
		}
		return Principal{}, err
	}
	p.Method = MethodSession
	if p.SecondFactor != "" {
		// Half a login: it is recorded once the second factor is checked too
		// (CompleteLogin).
		s.Audit(ctx, store.AuditEvent{Actor: p.Username, Action: "login.password", ClientIP: clientIP, Outcome: "success",
			Detail: "second factor required"})
		return p, nil
	}
	s.CompleteLogin(ctx, p, clientIP, "")
	return p, nil
}

// CompleteLogin records a login whose every factor has been checked; detail says
// how the second one was, if any ("" for none).
func (s *Service) CompleteLogin(ctx context.Context, p Principal, clientIP, detail string) {
	if err := s.store.RecordLogin(ctx, p.UserID, s.now().UTC()); err != nil {
		s.log.WarnContext(ctx, "record login failed", "user_id", p.UserID, "err", err)
	}
	s.Audit(ctx, store.AuditEvent{Actor: p.Username, Action: "login", ClientIP: clientIP, Outcome: "success", Detail: detail})
}

// auditName keeps what an anonymous client typed as a username printable and short.
func auditName(username string) string {
	username = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) { // NUL is refused by PostgreSQL, escapes reach terminals
			return '?'
		}
		return r
	}, strings.ToValidUTF8(username, "?"))
	if len(username) > maxUsernameBytes {
		username = username[:maxUsernameBytes] + "…"
	}
	return username
}

// Audit appends an event; the request it describes has happened, so a failure to
// record it is logged, not returned.
func (s *Service) Audit(ctx context.Context, e store.AuditEvent) {
	if e.At.IsZero() {
		e.At = s.now().UTC()
	}
	if err := s.store.AppendAudit(ctx, e); err != nil {
		s.log.ErrorContext(ctx, "audit append failed", "action", e.Action, "err", err)
	}
}

// RecentAudit returns a user's newest events ("" for everyone's).
func (s *Service) RecentAudit(ctx context.Context, username string, limit int) ([]store.AuditEvent, error) {
	return s.store.ListAudit(ctx, username, limit)
}

// ValidateUsername checks a new username against the policy.
func ValidateUsername(username string) error {
	if !usernamePattern.MatchString(username) {
		return apperr.Validation("Validation error", apperr.FieldError{Field: "username",
			Message: "must be 3-32 characters: letters, digits, '_', '.' or '-', starting with a letter or digit"})
	}
	return nil
}

// CreateUser adds a user with a new password; KindConflict when the name is taken.
func (s *Service) CreateUser(ctx context.Context, username, password, role string) (store.User, error) {
	u, err := s.PrepareUser(username, password, role)
	if err != nil {
		return store.User{}, err
	}
	if err := s.store.CreateUser(ctx, &u); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// ListUsers returns every user with their active key count.
func (s *Service) ListUsers(ctx context.Context) ([]store.UserSummary, error) {
	return s.store.ListUsers(ctx)
}

// ChangePassword replaces a user's password after checking the current one and
// ends everything granted under the old one, everywhere (EndAccess), before it
// returns. It returns the user's new access generation, under which the caller may
// grant the user a new session.
func (s *Service) ChangePassword(ctx context.Context, userID int64, current, next string) (generation int64, err error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return 0, err
	}
	if !s.hasher.Check([]byte(u.PasswordHash), current) {
		return 0, ErrWrongCurrentPassword
	}
	if err := ValidatePassword("new_password", next); err != nil {
		return 0, err
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return 0, err
	}
	gen, err := s.store.UpdatePasswordHash(ctx, userID, hash)
	if err != nil {
		return 0, err
	}
	return gen, s.publishGeneration(userID, gen)
}

// SeedDemo stores the article's demo users and keys, idempotently.
func (s *Service) SeedDemo(ctx context.Context) error {
	err := store.SeedDemo(ctx, s.store, s.hasher.Hash, Digest)
	s.keys.forgetInvalid() // the demo keys may have been tried before they existed
	return err
}

// Digest is how an API key is stored: lowercase hex SHA-256.
func Digest(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewAPIKey is a key just created: Key is its secret, shown this once.
type NewAPIKey struct {
	store.APIKey
	Key string
}

// CreateAPIKey issues a key for a user. expiresIn 0 means it never expires.
func (s *Service) CreateAPIKey(ctx context.Context, userID int64, name string, permissions []string, expiresIn time.Duration) (NewAPIKey, error) {
	var fields []apperr.FieldError
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		fields = append(fields, apperr.FieldError{Field: "name", Message: "must be 1-64 characters"})
	}
	perms, ok := normalizePermissions(permissions)
	if !ok {
		fields = append(fields, apperr.FieldError{Field: "permissions", Message: "must be a non-empty list of read and write"})
	}
	if expiresIn < 0 || (expiresIn > 0 && expiresIn < time.Minute) || expiresIn > 5*365*24*time.Hour {
		fields = append(fields, apperr.FieldError{Field: "expires_in", Message: "must be between 1m and 43800h (5 years), or empty for no expiry"})
	}
	if len(fields) > 0 {
		return NewAPIKey{}, apperr.Validation("Validation error", fields...)
	}
	secret := keyPrefixLive + rand.Text()
	now := s.now().UTC()
	k := store.APIKey{UserID: userID, Name: name, Prefix: store.KeyPrefix(secret), Digest: Digest(secret), Permissions: perms, CreatedAt: now}
	if expiresIn > 0 {
		exp := now.Add(expiresIn)
		k.ExpiresAt = &exp
	}
	if err := s.store.CreateAPIKey(ctx, &k); err != nil {
		return NewAPIKey{}, err
	}
	// A random secret cannot have been tried before it existed, unless by whoever
	// chose it; dropping any "no such key" entry anyway keeps that reasoning out of
	// the cache's correctness.
	s.keys.forgetDigest(sha256.Sum256([]byte(secret)))
	return NewAPIKey{APIKey: k, Key: secret}, nil
}

// normalizePermissions sorts and de-duplicates, refusing anything but read and write.
func normalizePermissions(perms []string) ([]string, bool) {
	out := make([]string, 0, 2)
	for _, p := range perms {
		p = strings.ToLower(strings.TrimSpace(p))
		if p != store.PermRead && p != store.PermWrite {
			return nil, false
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, len(out) > 0
}

// ParsePermissions reads a comma-separated permission list such as "read,write".
func ParsePermissions(list string) ([]string, error) {
	perms, ok := normalizePermissions(strings.Split(list, ","))
	if !ok {
		return nil, apperr.Validation("Validation error", apperr.FieldError{Field: "permissions", Message: "must be a comma list of read and write"})
	}
	return perms, nil
}

// ListAPIKeys returns a user's keys (0: everyone's), newest first.
func (s *Service) ListAPIKeys(ctx context.Context, userID int64) ([]store.APIKey, error) {
	return s.store.ListAPIKeys(ctx, userID)
}

// RevokeAPIKey revokes one of a user's keys (userID 0: anyone's); it stops working at once.
// The key is dropped from this process's cache whether or not the store answered,
// since a failed answer does not say whether the revoke was written.
func (s *Service) RevokeAPIKey(ctx context.Context, userID, keyID int64) (store.APIKey, error) {
	k, err := s.store.RevokeAPIKey(ctx, userID, keyID, s.now().UTC())
	s.keys.forgetID(keyID)
	if aerr := s.shared.Set(keyMarker(keyID), []byte{1}, keyMarkerTTL); aerr != nil {
		// The revoke is made; other instances just learn it when their entries expire.
		s.log.WarnContext(ctx, "announcing a key revoke failed", "key_id", keyID, "err", aerr)
	}
	return k, err
}

// VerifyAPIKey finds the principal behind a key; unknown, revoked and expired keys
// all get ErrInvalidAPIKey. What the store says about a digest is cached briefly
// (keyCache), both ways, so a repeated key costs no SQL.
func (s *Service) VerifyAPIKey(ctx context.Context, key string) (Principal, error) {
	if key == "" || len(key) > maxAPIKeyBytes {
		return Principal{}, ErrInvalidAPIKey
	}
	d := digest(sha256.Sum256([]byte(key)))
	now := s.now()
	cached, found, epoch := s.keys.get(d, now)
	if found == keyValid && !s.keyStillValid(cached) {
		s.keys.forgetID(cached.id) // ask the database, which knows
		cached, found, epoch = s.keys.get(d, now)
	}
	s.observe.CacheLookup(CacheAPIKey, found != keyMiss)
	switch found {
	case keyInvalid:
		return Principal{}, ErrInvalidAPIKey
	case keyMiss:
		k, err := s.store.APIKeyByDigest(ctx, hex.EncodeToString(d[:]))
		if apperr.Is(err, apperr.KindNotFound) {
			s.keys.putInvalid(d, epoch, now)
			return Principal{}, ErrInvalidAPIKey
		}
		if err != nil {
			return Principal{}, err
		}
		// The owner's generation, read with the key, goes into the shared state so
		// that the next hit finds it there (see keyStillValid).
		if _, err := s.access.raise(k.UserID, k.UserGeneration); err != nil {
			return Principal{}, err
		}
		// A disabled owner's key is not cached either way: as valid it would pass,
		// as invalid it would answer 401 where the owner's key deserves 403, and
		// enabling the owner must work at once.
		if k.UserDisabledAt != nil && k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt)) {
			return Principal{}, ErrAccountDisabled
		}
		s.keys.put(d, k, epoch, now)
		if k.RevokedAt != nil || (k.ExpiresAt != nil && !now.Before(*k.ExpiresAt)) {
			return Principal{}, ErrInvalidAPIKey
		}
		cached = cachedKey{id: k.ID, userID: k.UserID, username: k.Username, role: k.UserRole, permissions: k.Permissions}
	}
	s.usage.Record(cached.id, now.UTC())
	return Principal{UserID: cached.userID, Username: cached.username, Role: cached.role, Method: MethodAPIKey,
		Permissions: cached.permissions, KeyID: cached.id}, nil
}

// keyStillValid reports whether a cached key may be trusted: the shared state says
// its owner's access has not ended since it was read, and it has no revoke marker.
// A store that does not answer, or an owner's generation missing from it (expired,
// or a Redis that restarted empty and so lost the markers too), is a no: the
// caller asks the database.
func (s *Service) keyStillValid(k cachedKey) bool {
	vals, err := s.shared.GetMany(k.shared[:]...)
	if err != nil || vals[0] == nil {
		return false
	}
	// A marker revokes the key, unless it is a roll's and this entry already
	// holds the end it announces (it was read after the roll).
	if vals[1] != nil && (k.expiresAt.IsZero() || string(vals[1]) != string(rollMarker(k.expiresAt))) {
		return false
	}
	gen, err := strconv.ParseInt(string(vals[0]), 10, 64)
	return err == nil && gen == k.generation
}

// UserPrincipalByName looks a user up by name (for the admin CLI).
func (s *Service) UserPrincipalByName(ctx context.Context, username string) (Principal, error) {
	u, err := s.store.UserByUsername(ctx, username)
	if err != nil {
		return Principal{}, err
	}
	return userPrincipal(u, ""), nil
}

// RollAPIKey replaces one of a user's keys (userID 0: anyone's) with a new secret
// of the same name, permissions and expiry; the old key keeps working until now +
// grace (never longer than it would have). Every instance's cache sees the old
// key's new end at once: the key's marker carries it (keyStillValid).
func (s *Service) RollAPIKey(ctx context.Context, userID, keyID int64, grace time.Duration) (old store.APIKey, next NewAPIKey, err error) {
	secret := keyPrefixLive + rand.Text()
	oldKey, newKey, err := s.store.RollAPIKey(ctx, userID, keyID, store.KeyPrefix(secret), Digest(secret), s.now().UTC().Add(grace))
	s.keys.forgetID(keyID)
	if err != nil {
		return store.APIKey{}, NewAPIKey{}, err
	}
	s.keys.forgetDigest(sha256.Sum256([]byte(secret)))
	if aerr := s.shared.Set(keyMarker(keyID), rollMarker(*oldKey.ExpiresAt), keyMarkerTTL); aerr != nil {
		s.log.WarnContext(ctx, "announcing a key roll failed", "key_id", keyID, "err", aerr)
	}
	return oldKey, NewAPIKey{APIKey: newKey, Key: secret}, nil
}

// rollMarker is a key marker that says "this key now ends at": a cached entry
// that already knows that end stays trusted; any other is read again.
func rollMarker(end time.Time) []byte { return []byte("ends:" + strconv.FormatInt(end.UnixNano(), 10)) }
