package web

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"fiberauth/internal/apperr"
	"fiberauth/internal/shared"
)

// sharedWindow is a fixed-window limiter for Fiber's limiter middleware (its
// LimiterMiddleware hook) that counts with one atomic operation in the shared state:
// Fiber's own FixedWindow reads the count, then writes it back under a lock of this
// process only, so two instances each admit requests the other already counted (73
// for a limit of 50), and while the storage hangs every request queues behind that
// lock. Here nothing is held across the storage call, and a storage that does not
// answer refuses the request (503) at once instead of quietly turning the limit off.
type sharedWindow struct {
	store shared.Store
}

var _ limiter.LimiterHandler = sharedWindow{}

// New builds the handler for cfg: Max requests per Expiration per KeyGenerator key.
// SkipFailedRequests and SkipSuccessfulRequests are not supported (nothing here
// uses them: failed logins have their own throttle).
func (w sharedWindow) New(cfg limiter.Config) fiber.Handler {
	limit := strconv.Itoa(cfg.Max)
	return func(c *fiber.Ctx) error {
		if cfg.Next != nil && cfg.Next(c) {
			return c.Next()
		}
		n, left, err := w.store.Count(cfg.KeyGenerator(c), cfg.Expiration)
		if err != nil {
			return apperr.Wrap(apperr.KindUnavailable, "Rate-limit storage is unavailable", err)
		}
		reset := strconv.FormatInt(int64((left+time.Second-1)/time.Second), 10)
		if n > int64(cfg.Max) {
			c.Set(fiber.HeaderRetryAfter, reset)
			return cfg.LimitReached(c)
		}
		c.Set("X-RateLimit-Limit", limit)
		c.Set("X-RateLimit-Remaining", strconv.FormatInt(int64(cfg.Max)-n, 10))
		c.Set("X-RateLimit-Reset", reset)
		return c.Next()
	}
}
