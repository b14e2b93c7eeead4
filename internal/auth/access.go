package auth

import (
	"context"
	"math"
	"strconv"
	"time"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// The one way to end a user's access everywhere.
//
// Each user has an access generation (users.access_generation), and a copy of it in
// the shared state (Redis with REDIS_URL) under accessKey. Everything that grants
// access is stamped with the generation it was granted under, read in the same
// database row as the password hash it was checked against: a session, a cached
// Basic credential, a cached API key (whose owner is re-checked in the database),
// and later a token. A grant is void once the user's current generation has moved
// past its stamp, and every use compares: one read of the shared state, no SQL.
//
// EndAccess moves the generation on in the database (in the same statement as the
// password, for a password change) and then raises the shared copy, before it
// returns. So a login that read the old hash read the old generation too, and its
// session is void the moment the change returns, on every instance; nothing granted
// before the change works after it.
//
// A shared copy that is missing (expired, or Redis restarted empty) is read again
// from the database: a missing value never reads as "nothing changed". The copy
// expires after a while (GenerationTTL) so that a change written to the database by
// a process that could not reach this state (the admin CLI without Redis) is seen
// within that bound.
type generations struct {
	shared SharedStore
	store  store.Store
	ttl    time.Duration
}

// Defaults for how long the shared copy of a generation is trusted before it is
// read from the database again.
const (
	// DefaultGenerationTTL: with Redis, every instance and the CLI raise the copy
	// themselves; the TTL only bounds the damage of a raise that failed.
	DefaultGenerationTTL = 10 * time.Minute
	// LocalGenerationTTL: in memory, the copy is this process's own, so a change by
	// the CLI (another process) reaches it only through the database, within this.
	LocalGenerationTTL = 5 * time.Second
)

// voidGeneration is the generation of a user who no longer exists: nothing passes it.
const voidGeneration = math.MaxInt64

func accessKey(userID int64) string { return "auth:access:" + strconv.FormatInt(userID, 10) }

// current is the user's generation now. fromShared is false when the shared copy was
// missing and had to be read from the database, which tells caches that other
// shared facts (a key's revoke marker) may have been lost with it.
func (g generations) current(ctx context.Context, userID int64) (gen int64, fromShared bool, err error) {
	raw, err := g.shared.Get(accessKey(userID))
	if err != nil {
		return 0, false, unavailable(err)
	}
	if gen, err := strconv.ParseInt(string(raw), 10, 64); raw != nil && err == nil {
		return gen, true, nil
	}
	gen, err = g.load(ctx, userID)
	return gen, false, err
}

// load reads the generation from the database into the shared copy. Raise keeps a
// newer value another instance wrote meanwhile.
func (g generations) load(ctx context.Context, userID int64) (int64, error) {
	gen, err := g.store.AccessGeneration(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) {
		return voidGeneration, nil
	}
	if err != nil {
		return 0, err
	}
	return g.raise(userID, gen)
}

// raise makes the shared copy at least gen, trying twice: a change that returns
// while some instance still trusts the old generation is the failure this guards.
func (g generations) raise(userID int64, gen int64) (int64, error) {
	var err error
	for range 2 {
		var now int64
		if now, err = g.shared.Raise(accessKey(userID), gen, g.ttl); err == nil {
			return now, nil
		}
	}
	return 0, unavailable(err)
}

func unavailable(err error) error {
	return apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
}

// AccessGeneration is the user's current generation: a grant stamped with an
// earlier one is void. For the session manager, which stamps sessions.
func (s *Service) AccessGeneration(ctx context.Context, userID int64) (int64, error) {
	gen, _, err := s.access.current(ctx, userID)
	return gen, err
}

// EndAccess ends everything the user has been granted so far — every session and
// token, on every instance, and every cached credential and key (keys themselves
// stay valid and are checked again against the database) — before it returns.
// Password change, logout everywhere, disabling and token revocation all call this
// (or, for a password change, the same statement plus publishGeneration).
func (s *Service) EndAccess(ctx context.Context, userID int64) error {
	gen, err := s.store.EndAccess(ctx, userID)
	if err != nil {
		return err
	}
	return s.publishGeneration(userID, gen)
}

// publishGeneration makes a generation the database has just moved to the one every
// instance uses, and drops this process's caches of the user.
func (s *Service) publishGeneration(userID, gen int64) error {
	s.creds.ForgetUser(userID)
	s.keys.forgetUser(userID)
	if _, err := s.access.raise(userID, gen); err != nil {
		s.log.Error("ending access everywhere: the shared generation could not be raised", "user_id", userID, "err", err)
		return err
	}
	return nil
}

// GenerationAnd reads the user's current generation and, in the same round trip
// to the shared state, one more key (a token family's revoke marker): what an
// access token checks on every use, with no SQL while the generation is there.
func (s *Service) GenerationAnd(ctx context.Context, userID int64, key string) (int64, []byte, error) {
	vals, err := s.shared.GetMany(accessKey(userID), key)
	if err != nil {
		return 0, nil, unavailable(err)
	}
	if gen, err := strconv.ParseInt(string(vals[0]), 10, 64); vals[0] != nil && err == nil {
		return gen, vals[1], nil
	}
	gen, err := s.access.load(ctx, userID)
	return gen, vals[1], err
}
