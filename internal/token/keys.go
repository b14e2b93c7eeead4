package token

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"fiberauth/internal/secretbox"
	"fiberauth/internal/store"
)

// Algorithms JWT_ALGORITHM may name.
const (
	AlgEdDSA = "EdDSA"
	AlgHS256 = "HS256"
	// hs256KID names the one HS256 key (JWT_SECRET); it has no JWKS entry.
	hs256KID = "hs256"
)

// verifyKey is one key a token may be signed with. Its algorithm is the only one
// accepted for its kid, whatever a token's header says.
type verifyKey struct {
	alg    string
	key    any       // ed25519.PublicKey or []byte (HS256)
	public []byte    // Ed25519 public key, for JWKS
	until  time.Time // zero: the signing key; else the last moment it verifies
}

// keySet is the keys as last loaded: one signs, all verify.
type keySet struct {
	signKID string
	signKey any // ed25519.PrivateKey or []byte
	method  jwt.SigningMethod
	verify  map[string]verifyKey
	// hasActive: the database has a signing key (signKey is nil if it would not open).
	hasActive bool
}

// keyring holds the current keySet and reloads it from the database: every
// reloadEvery, and when a token names a kid it does not know (a rotation by
// another process), at most once per unknownEvery so that made-up kids cannot
// cause a query per request.
type keyring struct {
	store        store.TokenStore
	box          *secretbox.Box
	accessTTL    time.Duration
	reloadEvery  time.Duration
	unknownEvery time.Duration
	now          func() time.Time

	set        atomic.Pointer[keySet]
	loadedAt   atomic.Int64 // unix nanos of the last load
	unknownAt  atomic.Int64 // unix nanos of the last load caused by an unknown kid
	reloadLock sync.Mutex
}

func purpose(kid string) string { return "jwt-signing-key:" + kid }

// newKID is a random key ID.
func newKID() string { return "k" + rand.Text()[:15] }

// newEd25519Key makes a signing key, its private half sealed.
func newEd25519Key(box *secretbox.Box, at time.Time) (store.SigningKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return store.SigningKey{}, err
	}
	kid := newKID()
	return store.SigningKey{KID: kid, Algorithm: AlgEdDSA, PublicKey: pub,
		PrivateSealed: box.Seal(priv.Seed(), purpose(kid)), CreatedAt: at}, nil
}

// ensure makes the first signing key if there is none (race-safe: the database
// keeps at most one) and loads the set. It runs on the first token issued, so a
// process that never issues one (an admin command) writes no key.
func (r *keyring) ensure(ctx context.Context) error {
	k, err := newEd25519Key(r.box, r.now().UTC())
	if err != nil {
		return err
	}
	if _, err := r.store.AddFirstSigningKey(ctx, k); err != nil {
		return err
	}
	return r.load(ctx)
}

// load reads the signing key and the retired keys that may still verify. A token
// signed by an instance that has not yet seen a rotation may be up to reloadEvery
// younger than the retirement, so that is allowed for too.
func (r *keyring) load(ctx context.Context) error {
	now := r.now()
	window := r.accessTTL + r.reloadEvery
	keys, err := r.store.SigningKeys(ctx, now.Add(-window))
	if err != nil {
		return err
	}
	set := &keySet{method: jwt.SigningMethodEdDSA, verify: make(map[string]verifyKey, len(keys))}
	var sealErr error
	for _, k := range keys {
		if k.Algorithm != AlgEdDSA || len(k.PublicKey) != ed25519.PublicKeySize {
			continue
		}
		vk := verifyKey{alg: AlgEdDSA, key: ed25519.PublicKey(k.PublicKey), public: k.PublicKey}
		if k.RetiredAt != nil {
			vk.until = k.RetiredAt.Add(window)
		} else {
			set.hasActive = true
			// Public keys need no secret: an instance whose SECRETS_KEY differs from
			// the one that sealed the key still verifies tokens, but issues none.
			seed, err := r.box.Open(k.PrivateSealed, purpose(k.KID))
			if err != nil || len(seed) != ed25519.SeedSize {
				sealErr = fmt.Errorf("token: signing key %s does not open under SECRETS_KEY (every instance must have the same one): %v", k.KID, err)
			} else {
				set.signKID, set.signKey = k.KID, ed25519.NewKeyFromSeed(seed)
			}
		}
		set.verify[k.KID] = vk
	}
	r.set.Store(set)
	r.loadedAt.Store(now.UnixNano())
	return sealErr
}

// signer is the key set with a signing key, making the first one if there is
// none yet.
func (r *keyring) signer(ctx context.Context) (*keySet, error) {
	ks := r.current(ctx)
	if ks.signKey != nil {
		return ks, nil
	}
	if r.store == nil {
		return nil, errors.New("token: no signing key")
	}
	r.reloadLock.Lock()
	defer r.reloadLock.Unlock()
	var err error
	if ks = r.set.Load(); !ks.hasActive {
		err = r.ensure(ctx)
	} else {
		err = r.load(ctx)
	}
	if ks = r.set.Load(); ks.signKey == nil {
		if err == nil {
			err = errors.New("token: no signing key")
		}
		return nil, err
	}
	return ks, nil
}

// current is the key set, reloaded first when it is older than reloadEvery (by
// the one caller that gets the lock; the others use the set they have).
func (r *keyring) current(ctx context.Context) *keySet {
	if r.store != nil && r.now().UnixNano()-r.loadedAt.Load() > int64(r.reloadEvery) && r.reloadLock.TryLock() {
		_ = r.load(ctx) // a failed reload keeps the keys we have
		r.reloadLock.Unlock()
	}
	return r.set.Load()
}

// lookup finds the key for kid, reloading once (bounded) for an unknown one.
func (r *keyring) lookup(ctx context.Context, kid string) (verifyKey, bool) {
	k, ok := r.current(ctx).verify[kid]
	if ok || r.store == nil {
		return k, ok
	}
	now := r.now().UnixNano()
	last := r.unknownAt.Load()
	if now-last < int64(r.unknownEvery) || !r.unknownAt.CompareAndSwap(last, now) {
		return verifyKey{}, false
	}
	r.reloadLock.Lock()
	_ = r.load(ctx)
	r.reloadLock.Unlock()
	k, ok = r.set.Load().verify[kid]
	return k, ok
}

// rotate makes a new signing key; the old one verifies until its tokens expire.
func (r *keyring) rotate(ctx context.Context) (string, error) {
	now := r.now().UTC()
	k, err := newEd25519Key(r.box, now)
	if err != nil {
		return "", err
	}
	if err := r.store.RotateSigningKey(ctx, k, now); err != nil {
		return "", err
	}
	return k.KID, r.load(ctx)
}

// hs256Set is the fixed key set of JWT_ALGORITHM=HS256.
func hs256Set(secret []byte) *keySet {
	return &keySet{signKID: hs256KID, signKey: secret, method: jwt.SigningMethodHS256,
		verify: map[string]verifyKey{hs256KID: {alg: AlgHS256, key: secret}}}
}

// JWK is one public key as /.well-known/jwks.json lists it (RFC 8037 for Ed25519).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// JWKS lists the public keys that verify tokens now (none for HS256).
func (s *Service) JWKS(ctx context.Context) []JWK {
	out := []JWK{}
	now := s.now()
	ks := s.keys.current(ctx)
	if s.keys.store != nil && !ks.hasActive {
		// The key that will sign, made now, so clients can fetch it ahead of time.
		if made, err := s.keys.signer(ctx); err == nil {
			ks = made
		}
	}
	for kid, k := range ks.verify {
		if k.alg != AlgEdDSA || (!k.until.IsZero() && now.After(k.until)) {
			continue
		}
		out = append(out, JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(k.public),
			Kid: kid, Alg: AlgEdDSA, Use: "sig"})
	}
	return out
}

// RotateSigningKey makes a new signing key (EdDSA only) and returns its kid.
func (s *Service) RotateSigningKey(ctx context.Context) (string, error) {
	if s.keys.store == nil {
		return "", errors.New("JWT_ALGORITHM=HS256: the key is JWT_SECRET; change it to rotate (every token ends)")
	}
	kid, err := s.keys.rotate(ctx)
	if err == nil {
		s.audit(ctx, store.AuditEvent{Actor: "cli", Action: "token.signing-key.rotate", Outcome: "success", Detail: "new kid " + kid})
	}
	return kid, err
}
