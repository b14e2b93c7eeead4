package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"fiberauth/internal/store"
)

// usageRecorder batches API keys' last-used times and writes them in the background,
// so that using a key never waits for a database write.
type usageRecorder struct {
	store store.Store
	log   *slog.Logger

	mu      sync.Mutex
	pending map[int64]time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

func newUsageRecorder(st store.Store, every time.Duration, log *slog.Logger) *usageRecorder {
	u := &usageRecorder{store: st, log: log, pending: map[int64]time.Time{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go u.loop(every)
	return u
}

// Record notes that a key was used at t.
func (u *usageRecorder) Record(keyID int64, t time.Time) {
	u.mu.Lock()
	if t.After(u.pending[keyID]) {
		u.pending[keyID] = t
	}
	u.mu.Unlock()
}

func (u *usageRecorder) loop(every time.Duration) {
	defer close(u.done)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			u.Flush(context.Background())
		case <-u.stop:
			u.Flush(context.Background())
			return
		}
	}
}

// Flush writes what is pending now. On failure the times are kept for the next try.
func (u *usageRecorder) Flush(ctx context.Context) {
	u.mu.Lock()
	batch := u.pending
	u.pending = map[int64]time.Time{}
	u.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	if err := u.store.TouchAPIKeys(ctx, batch); err != nil {
		u.log.WarnContext(ctx, "recording API key usage failed", "keys", len(batch), "err", err)
		for id, t := range batch {
			u.Record(id, t)
		}
	}
}

// Close writes what is pending and stops the background writer.
func (u *usageRecorder) Close() error {
	u.once.Do(func() { close(u.stop) })
	<-u.done
	return nil
}
