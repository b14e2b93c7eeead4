package auth

import (
	"context"
	"time"
)

// Observer is told what operators measure about the service (the metrics package
// implements it), so that this package stays free of any metrics library.
// Options.Observer nil tells nobody.
type Observer interface {
	// CacheLookup is one look in a cache: CacheCredential (verified Basic
	// credentials) or CacheAPIKey (what the store said about a key's digest).
	CacheLookup(cache string, hit bool)
	// PasswordCompared is one bcrypt compare and how long it took.
	PasswordCompared(took time.Duration)
}

// The caches CacheLookup names.
const (
	CacheCredential = "credential"
	CacheAPIKey     = "api_key"
)

type nopObserver struct{}

func (nopObserver) CacheLookup(string, bool)       {}
func (nopObserver) PasswordCompared(time.Duration) {}

// timedCompare reports how long each bcrypt compare takes, padding included (each
// pad compare is one more observation: that is the time bcrypt took).
func timedCompare(compare func(hash, password []byte) error, o Observer) func(hash, password []byte) error {
	return func(hash, password []byte) error {
		start := time.Now()
		err := compare(hash, password)
		o.PasswordCompared(time.Since(start))
		return err
	}
}

// repeatedCheckKey marks a context whose password check repeats one just made for
// the same request (basicauth's Authorizer has no request context, so the web layer
// asks twice): its cache lookup is not counted again.
type repeatedCheckKey struct{}

// RepeatedCheck marks ctx as repeating a password check of the same request.
func RepeatedCheck(ctx context.Context) context.Context {
	return context.WithValue(ctx, repeatedCheckKey{}, true)
}

func isRepeatedCheck(ctx context.Context) bool {
	repeated, _ := ctx.Value(repeatedCheckKey{}).(bool)
	return repeated
}
