// Package token issues and verifies OAuth 2.0 tokens: JWT access tokens signed
// with keys kept in the database (or JWT_SECRET for HS256), and refresh tokens in
// families that rotate on every use and are revoked whole when a spent one comes
// back (RFC 9700 §4.14). It knows nothing of HTTP.
//
// A valid access token costs no SQL: its signature is checked once and the answer
// cached until it expires, and every use reads one thing from the shared state —
// the user's access generation together with the family's revoke marker — so
// that ending a user's access (auth's EndAccess) or a family voids the token on
// every instance at once.
package token

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/secretbox"
	"fiberauth/internal/store"
)

// MethodToken is how a request authenticated with an access token proved who it is.
const MethodToken = "token"

// Errors of the token endpoint and of access-token checks.
var (
	// ErrInvalidToken is the one answer for an access token that does not verify.
	ErrInvalidToken = apperr.New(apperr.KindUnauthenticated, "Invalid token")
	// ErrInvalidGrant refuses a refresh token that is unknown, expired, spent or
	// of an ended family.
	ErrInvalidGrant = apperr.New(apperr.KindBadRequest, "Invalid refresh token")
	// ErrInvalidScope refuses a scope we do not know, or none left once capped.
	ErrInvalidScope = apperr.New(apperr.KindBadRequest, "Unknown scope: the scopes are read, write and (for admins) admin")
)

// Scopes a token may carry; a user's role caps them (allowedScopes).
const (
	ScopeRead  = "read"
	ScopeWrite = "write"
	ScopeAdmin = "admin"
)

// Bounds on what a client sends.
const (
	maxTokenBytes = 4096
	maxScopeBytes = 256
	maxUABytes    = 256
	// DefaultCacheSize bounds the verified-token cache.
	DefaultCacheSize = 10_000
)

// Shared is the part of the shared state tokens use: family revoke markers.
type Shared interface {
	Set(key string, val []byte, exp time.Duration) error
}

// Access reads a user's access generation and, in the same round trip, another
// shared key (auth.Service.GenerationAnd).
type Access interface {
	GenerationAnd(ctx context.Context, userID int64, key string) (int64, []byte, error)
}

// Auditor records security events (auth.Service).
type Auditor interface {
	Audit(ctx context.Context, e store.AuditEvent)
}

// Options configures a Service.
type Options struct {
	Store      store.TokenStore
	Shared     Shared
	Access     Access
	Audit      Auditor
	SecretsKey []byte // seals the Ed25519 private keys
	Algorithm  string // AlgEdDSA (default) or AlgHS256
	HS256Key   []byte // JWT_SECRET, for AlgHS256
	Issuer     string // PUBLIC_URL
	AccessTTL  time.Duration
	RefreshTTL time.Duration
	// ReloadEvery is how often the signing keys are read again (default 1m);
	// UnknownKIDEvery bounds the reloads a token with an unknown kid causes
	// (default 10s).
	ReloadEvery     time.Duration
	UnknownKIDEvery time.Duration
	CacheSize       int
	Logger          *slog.Logger
	Now             func() time.Time
}

// Service issues, refreshes, verifies and revokes tokens.
type Service struct {
	store      store.TokenStore
	shared     Shared
	access     Access
	auditor    Auditor
	keys       *keyring
	parser     *jwt.Parser
	issuer     string
	accessTTL  time.Duration
	refreshTTL time.Duration
	cache      *verifiedCache
	log        *slog.Logger
	now        func() time.Time
}

// New builds the Service; with EdDSA it makes the first signing key if the
// database has none, and loads the keys.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReloadEvery <= 0 {
		opts.ReloadEvery = time.Minute
	}
	if opts.UnknownKIDEvery <= 0 {
		opts.UnknownKIDEvery = 10 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.AccessTTL <= 0 || opts.RefreshTTL <= 0 {
		return nil, errors.New("token: AccessTTL and RefreshTTL are required")
	}
	s := &Service{store: opts.Store, shared: opts.Shared, access: opts.Access, auditor: opts.Audit,
		issuer: opts.Issuer, accessTTL: opts.AccessTTL, refreshTTL: opts.RefreshTTL,
		cache: newVerifiedCache(opts.CacheSize), log: opts.Logger, now: opts.Now}
	s.keys = &keyring{accessTTL: opts.AccessTTL, reloadEvery: opts.ReloadEvery, unknownEvery: opts.UnknownKIDEvery, now: opts.Now}
	method := AlgEdDSA
	switch opts.Algorithm {
	case AlgHS256:
		if len(opts.HS256Key) < 32 {
			return nil, errors.New("token: JWT_SECRET of at least 32 bytes is required for HS256")
		}
		method = AlgHS256
		s.keys.set.Store(hs256Set(opts.HS256Key))
	case AlgEdDSA, "":
		box, err := secretbox.New(opts.SecretsKey)
		if err != nil {
			return nil, err
		}
		s.keys.store, s.keys.box = opts.Store, box
		if err := s.keys.load(ctx); err != nil {
			if apperr.Is(err, apperr.KindUnavailable) || apperr.Is(err, apperr.KindInternal) {
				return nil, err
			}
			opts.Logger.Error("tokens: this instance verifies access tokens but cannot issue them", "err", err)
		}
	default:
		return nil, errors.New("token: JWT_ALGORITHM must be EdDSA or HS256")
	}
	// The configured algorithm is the only one parsed at all; the kid's own key
	// then decides again (keyFor), so no header picks how a token is checked.
	s.parser = jwt.NewParser(jwt.WithValidMethods([]string{method}), jwt.WithIssuer(opts.Issuer),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(opts.Now), jwt.WithStrictDecoding())
	return s, nil
}

// Claims are an access token's claims (design.md), plus gen: the user's access
// generation at issue, so that ending the user's access voids it.
type Claims struct {
	jwt.RegisteredClaims
	PreferredUsername string `json:"preferred_username"`
	Role              string `json:"role"`
	Scope             string `json:"scope"`
	SID               string `json:"sid"`
	Gen               int64  `json:"gen"`
}

// Pair is what the token endpoint answers.
type Pair struct {
	AccessToken  string
	ExpiresIn    int64 // seconds
	RefreshToken string
	Scope        string
}

// Client is who asked for a grant, for the sessions page.
type Client struct {
	IP        string
	UserAgent string
}

// allowedScopes is what a role may be granted.
func allowedScopes(role string) []string {
	if role == store.RoleAdmin {
		return []string{ScopeAdmin, ScopeRead, ScopeWrite} // sorted, as a granted scope is
	}
	return []string{ScopeRead, ScopeWrite}
}

// Scopes reads a requested scope ("read write", RFC 6749 §3.3) and caps it by
// role: the grant is requested ∩ allowed, all allowed when none is requested. An
// unknown scope, or a request none of which the role may have, is ErrInvalidScope.
func Scopes(requested, role string) ([]string, error) {
	allowed := allowedScopes(role)
	if len(requested) > maxScopeBytes {
		return nil, ErrInvalidScope
	}
	fields := strings.Fields(requested)
	if len(fields) == 0 {
		return allowed, nil
	}
	var out []string
	for _, f := range fields {
		if f != ScopeRead && f != ScopeWrite && f != ScopeAdmin {
			return nil, ErrInvalidScope
		}
		if slices.Contains(allowed, f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, ErrInvalidScope
	}
	slices.Sort(out)
	return out, nil
}

// Issue grants a new family to a principal whose password was just checked.
func (s *Service) Issue(ctx context.Context, p auth.Principal, scopes []string, client Client) (Pair, error) {
	now := s.now().UTC()
	refresh, digest := newRefreshToken()
	f := store.RefreshFamily{Handle: newHandle(), UserID: p.UserID, Generation: p.Generation,
		Scope: strings.Join(scopes, " "), ClientIP: client.IP, UserAgent: truncate(client.UserAgent, maxUABytes),
		CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.refreshTTL)}
	if err := s.store.CreateRefreshFamily(ctx, &f, store.RefreshToken{Digest: digest, CreatedAt: now, ExpiresAt: f.ExpiresAt}); err != nil {
		return Pair{}, err
	}
	access, err := s.sign(ctx, p.UserID, p.Username, p.Role, f.Scope, f.Handle, p.Generation, now)
	if err != nil {
		return Pair{}, err
	}
	s.audit(ctx, store.AuditEvent{Actor: p.Username, Action: "token.issue", ClientIP: client.IP, Outcome: "success",
		Detail: "family " + f.Handle + ", scope " + f.Scope})
	return Pair{AccessToken: access, ExpiresIn: int64(s.accessTTL / time.Second), RefreshToken: refresh, Scope: f.Scope}, nil
}

// Refresh spends a refresh token for a new pair. A spent one revokes its family
// and the family's access tokens, everywhere, at once. requested may narrow the
// scope (RFC 6749 §6); it never widens it.
func (s *Service) Refresh(ctx context.Context, refresh, requested, clientIP string) (Pair, error) {
	if refresh == "" || len(refresh) > maxTokenBytes {
		return Pair{}, ErrInvalidGrant
	}
	now := s.now().UTC()
	next, nextDigest := newRefreshToken()
	r, err := s.store.RotateRefreshToken(ctx, refreshDigest(refresh),
		store.RefreshToken{Digest: nextDigest, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL)})
	if err != nil {
		return Pair{}, err
	}
	switch r.Outcome {
	case store.RefreshReused:
		s.markFamilyRevoked(ctx, r.Family.Handle)
		s.audit(ctx, store.AuditEvent{Actor: "user#" + strconv.FormatInt(r.Family.UserID, 10), Action: "token.reuse",
			ClientIP: clientIP, Outcome: "failure", Detail: "spent refresh token presented: family " + r.Family.Handle + " revoked"})
		return Pair{}, ErrInvalidGrant
	case store.RefreshRotated:
	default:
		return Pair{}, ErrInvalidGrant
	}
	scopes, err := Scopes(r.Family.Scope, r.User.Role) // the role may have changed since
	if err != nil {
		return Pair{}, ErrInvalidGrant
	}
	if strings.TrimSpace(requested) != "" {
		narrowed, err := Scopes(requested, r.User.Role)
		if err != nil {
			return Pair{}, err
		}
		for _, sc := range narrowed {
			if !slices.Contains(scopes, sc) {
				return Pair{}, ErrInvalidScope
			}
		}
		scopes = narrowed
	}
	scope := strings.Join(scopes, " ")
	access, err := s.sign(ctx, r.User.ID, r.User.Username, r.User.Role, scope, r.Family.Handle, r.User.AccessGeneration, now)
	if err != nil {
		return Pair{}, err
	}
	return Pair{AccessToken: access, ExpiresIn: int64(s.accessTTL / time.Second), RefreshToken: next, Scope: scope}, nil
}

// Revoke ends the family of a refresh token or of an access token (RFC 7009:
// whatever the token, the caller is answered the same).
func (s *Service) Revoke(ctx context.Context, tok, clientIP string) error {
	if tok == "" || len(tok) > maxTokenBytes {
		return nil
	}
	now := s.now().UTC()
	var f store.RefreshFamily
	var found bool
	var err error
	if LooksLikeJWT(tok) {
		p, verr := s.Verify(ctx, tok)
		if verr != nil {
			return nil // an invalid token is already useless
		}
		f, found, err = s.store.RevokeRefreshFamily(ctx, p.UserID, p.SID, now)
	} else {
		f, found, err = s.store.RevokeRefreshFamilyByToken(ctx, refreshDigest(tok), now)
	}
	if err != nil || !found {
		return err
	}
	s.markFamilyRevoked(ctx, f.Handle)
	s.audit(ctx, store.AuditEvent{Actor: "user#" + strconv.FormatInt(f.UserID, 10), Action: "token.revoke",
		ClientIP: clientIP, Outcome: "success", Detail: "family " + f.Handle})
	return nil
}

// Families lists the user's live token families, newest first.
func (s *Service) Families(ctx context.Context, userID int64) ([]store.RefreshFamily, error) {
	return s.store.LiveRefreshFamilies(ctx, userID, s.now().UTC())
}

// EndFamily ends one of the user's families; found is false when it has none
// live with that handle.
func (s *Service) EndFamily(ctx context.Context, userID int64, handle string) (bool, error) {
	f, found, err := s.store.RevokeRefreshFamily(ctx, userID, handle, s.now().UTC())
	if err != nil || !found {
		return false, err
	}
	s.markFamilyRevoked(ctx, f.Handle)
	return true, nil
}

// EndAllFamilies ends every live family of the user and returns how many.
func (s *Service) EndAllFamilies(ctx context.Context, userID int64) (int, error) {
	fams, err := s.store.RevokeUserRefreshFamilies(ctx, userID, s.now().UTC())
	for _, f := range fams {
		s.markFamilyRevoked(ctx, f.Handle)
	}
	return len(fams), err
}

// FamilyMarker is the shared key whose presence voids a family's access tokens.
func FamilyMarker(handle string) string { return "token:family-revoked:" + handle }

// markFamilyRevoked voids the family's access tokens on every instance. The
// marker need only outlive the family's last access token.
func (s *Service) markFamilyRevoked(ctx context.Context, handle string) {
	if err := s.shared.Set(FamilyMarker(handle), []byte{1}, s.accessTTL+time.Minute); err != nil {
		// The family is revoked in the database (no refresh), but its current
		// access token lives until it expires: say so loudly.
		s.log.ErrorContext(ctx, "revoking a token family: the shared marker could not be set", "family", handle, "err", err)
	}
}

// sign makes an access token with the current signing key.
func (s *Service) sign(ctx context.Context, userID int64, username, role, scope, sid string, gen int64, now time.Time) (string, error) {
	ks, err := s.keys.signer(ctx)
	if err != nil {
		s.log.ErrorContext(ctx, "tokens: cannot sign", "err", err)
		return "", apperr.Wrap(apperr.KindUnavailable, "Token signing is unavailable", err)
	}
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   strconv.FormatInt(userID, 10),
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.accessTTL)),
			ID:        rand.Text(),
		},
		PreferredUsername: username, Role: role, Scope: scope, SID: sid, Gen: gen,
	}
	t := jwt.NewWithClaims(ks.method, claims)
	t.Header["kid"] = ks.signKID
	out, err := t.SignedString(ks.signKey)
	if err != nil {
		return "", apperr.Wrap(apperr.KindInternal, "could not sign a token", err)
	}
	return out, nil
}

// Principal is who a verified access token speaks for. Verify returns one shared
// by every request with the same token: read it, never change it.
type Principal struct {
	auth.Principal
	SID    string
	Scopes []string
}

// Verify checks an access token: signature (by the key its kid names, with that
// key's algorithm only), iss, exp, nbf, iat, and that neither the user's access
// nor the token's family has ended since it was issued.
func (s *Service) Verify(ctx context.Context, raw string) (*Principal, error) {
	if len(raw) > maxTokenBytes || !LooksLikeJWT(raw) {
		return nil, ErrInvalidToken
	}
	key := sha256.Sum256([]byte(raw))
	now := s.now()
	e, ok := s.cache.get(key, now)
	if !ok {
		var err error
		if e, err = s.parse(ctx, raw); err != nil {
			return nil, err
		}
	}
	gen, marker, err := s.access.GenerationAnd(ctx, e.p.UserID, e.marker)
	if err != nil {
		return nil, err
	}
	if gen != e.p.Generation || marker != nil {
		s.cache.drop(key)
		return nil, ErrInvalidToken
	}
	if !ok {
		s.cache.put(key, e)
	}
	return e.p, nil
}

// parse verifies a token's signature and claims.
func (s *Service) parse(ctx context.Context, raw string) (cachedToken, error) {
	var c Claims
	_, err := s.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) { return s.keyFor(ctx, t) })
	if err != nil {
		return cachedToken{}, ErrInvalidToken
	}
	userID, err := strconv.ParseInt(c.Subject, 10, 64)
	if err != nil || userID <= 0 || c.SID == "" || c.ExpiresAt == nil {
		return cachedToken{}, ErrInvalidToken
	}
	scopes := strings.Fields(c.Scope)
	return cachedToken{
		p: &Principal{Principal: auth.Principal{UserID: userID, Username: c.PreferredUsername, Role: c.Role,
			Method: MethodToken, Permissions: slices.Clip(scopes), Generation: c.Gen}, SID: c.SID, Scopes: slices.Clip(scopes)},
		exp: c.ExpiresAt.Time, marker: FamilyMarker(c.SID),
	}, nil
}

// keyFor is the key a token's kid names, refusing a token whose header's
// algorithm is not that key's own.
func (s *Service) keyFor(ctx context.Context, t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	if kid == "" || len(kid) > 64 {
		return nil, errors.New("no kid")
	}
	k, ok := s.keys.lookup(ctx, kid)
	if !ok {
		return nil, errors.New("unknown kid")
	}
	if t.Method.Alg() != k.alg {
		return nil, errors.New("algorithm is not the key's")
	}
	if !k.until.IsZero() && s.now().After(k.until) {
		return nil, errors.New("key retired")
	}
	return k.key, nil
}

// LooksLikeJWT tells a JWT (three base64url parts, the last empty for alg none)
// from an API key. It runs on every bearer request, so it allocates nothing.
func LooksLikeJWT(s string) bool {
	dots := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '.':
			dots++
			if i == 0 || s[i-1] == '.' {
				return false
			}
		case ch >= 'A' && ch <= 'Z', ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9', ch == '-', ch == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// newRefreshToken is 32 random bytes, base64url, and its digest.
func newRefreshToken() (token, digest string) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, refreshDigest(token)
}

func refreshDigest(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// newHandle is a family's public handle: 16 characters of lowercase base32, the
// shape of a session's handle, so the sessions page treats both alike.
func newHandle() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	for len(s) > n {
		s = s[:n]
		s = strings.ToValidUTF8(s, "")
	}
	return s
}

func (s *Service) audit(ctx context.Context, e store.AuditEvent) {
	if s.auditor != nil {
		s.auditor.Audit(ctx, e)
	}
}
