package mfa

import (
	"context"
	"crypto/rand"
	"strings"
	"time"
	"unicode/utf8"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// RememberFor is how long a remembered browser may skip the code.
const RememberFor = 30 * 24 * time.Hour

// maxUserAgent bounds the User-Agent kept with a remembered browser.
const maxUserAgent = 256

// Remember records the browser of a login that passed its second factor, under the
// user's current access generation, and returns the token for its cookie.
func (s *Service) Remember(ctx context.Context, userID, generation int64, clientIP, userAgent string) (token string, err error) {
	token = rand.Text()
	now := s.now().UTC()
	b := store.RememberedBrowser{Digest: tokenDigest(token), UserID: userID, Handle: strings.ToLower(rand.Text()[:16]),
		Generation: generation, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(RememberFor),
		ClientIP: clientIP, UserAgent: truncate(userAgent, maxUserAgent)}
	if err := s.store.RememberBrowser(ctx, b); err != nil {
		return "", err
	}
	return token, nil
}

// Remembered reports whether the token names a browser the user asked to
// remember, not expired, not forgotten, and remembered under the generation the
// password was just checked against (so a password change or a logout everywhere
// ends it, as it ends sessions).
func (s *Service) Remembered(ctx context.Context, token string, userID, generation int64) (bool, error) {
	if !validToken.MatchString(token) {
		return false, nil
	}
	b, err := s.store.RememberedBrowser(ctx, tokenDigest(token))
	if apperr.Is(err, apperr.KindNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	now := s.now()
	if b.UserID != userID || b.Generation != generation || !now.Before(b.ExpiresAt) {
		return false, nil
	}
	// The last-used time is for display only: failing to write it fails nothing.
	_ = s.store.TouchRememberedBrowser(ctx, b.Digest, now.UTC())
	return true, nil
}

// Browsers lists the user's remembered browsers still in force under generation
// (the user's current one), newest first.
func (s *Service) Browsers(ctx context.Context, userID, generation int64) ([]store.RememberedBrowser, error) {
	all, err := s.store.ListRememberedBrowsers(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := all[:0]
	for _, b := range all {
		if b.Generation == generation && now.Before(b.ExpiresAt) {
			out = append(out, b)
		}
	}
	return out, nil
}

// Forget ends one of the user's remembered browsers, by handle.
func (s *Service) Forget(ctx context.Context, userID int64, handle string) (bool, error) {
	return s.store.ForgetRememberedBrowser(ctx, userID, handle)
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
