package mail

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"fiberauth/internal/store"
)

// Defaults of a Sender.
const (
	DefaultPoll        = 5 * time.Second
	DefaultBaseDelay   = 30 * time.Second
	DefaultMaxDelay    = time.Hour
	DefaultMaxAttempts = 12 // about 6 hours of trying with the delays above
	DefaultLease       = 2 * time.Minute
	defaultBatch       = 20
	maxErrorBytes      = 500
)

// Options configures a Sender.
type Options struct {
	Store     store.MailStore
	Transport Transport
	Logger    *slog.Logger
	Now       func() time.Time
	// Poll is how often the outbox is read when nothing wakes the sender (another
	// instance's mail, retries coming due).
	Poll time.Duration
	// BaseDelay is the wait after the first failure; each further one doubles it,
	// up to MaxDelay, with jitter. After MaxAttempts tries the mail is kept but not
	// tried again (and logged).
	BaseDelay, MaxDelay time.Duration
	MaxAttempts         int
	// Lease is how long a claimed mail is the claimer's alone: longer than a send
	// takes, so that only a sender that died mid-send gives its mail up to another.
	Lease time.Duration
}

// Sender sends the outbox's due mail, one goroutine per server. Delivery is at
// least once (a mail is marked sent after the server took it; a crash between the
// two sends it again) and effectively once for receivers, by its Message-ID.
type Sender struct {
	opts   Options
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewSender builds a sender; Start runs it in the background, RunOnce by hand.
func NewSender(opts Options) *Sender {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.BaseDelay <= 0 {
		opts.BaseDelay = DefaultBaseDelay
	}
	if opts.MaxDelay <= 0 {
		opts.MaxDelay = DefaultMaxDelay
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	return &Sender{opts: opts, wake: make(chan struct{}, 1)}
}

// Start runs the sender until Stop: at once (mail queued before a restart goes
// out now), then whenever woken or every Poll.
func (s *Sender) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		ticker := time.NewTicker(s.opts.Poll)
		defer ticker.Stop()
		for {
			for {
				n, err := s.RunOnce(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					s.opts.Logger.WarnContext(ctx, "mail outbox: reading due mail failed", "err", err)
				}
				if n < defaultBatch || err != nil {
					break // a full batch may have more behind it
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-ticker.C:
			}
		}
	}()
}

// Stop ends the sender, waiting for a send under way; mail not yet sent stays in
// the outbox for the next start (here or on another instance).
func (s *Sender) Stop() {
	s.once.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
	})
}

// Wake asks the sender to look at the outbox now (a mail was just queued).
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default: // already woken
	}
}

// RunOnce claims the mail due now, tries each once and records the outcome. It
// returns how many it claimed.
func (s *Sender) RunOnce(ctx context.Context) (int, error) {
	now := s.opts.Now()
	batch, err := s.opts.Store.ClaimMail(ctx, now, s.opts.Lease, s.opts.MaxAttempts, defaultBatch)
	if err != nil {
		return 0, err
	}
	for _, m := range batch {
		s.send(ctx, m)
	}
	return len(batch), nil
}

func (s *Sender) send(ctx context.Context, m store.OutboxMessage) {
	log := s.opts.Logger.With("message_id", m.MessageID, "mail_id", m.ID)
	sendCtx, cancel := context.WithTimeout(ctx, s.opts.Lease/2)
	err := s.opts.Transport.Send(sendCtx, m)
	cancel()
	// The outcome is recorded even when the sender is stopping, so a mail the
	// server took is not sent again after the restart.
	markCtx, cancelMark := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancelMark()
	if err == nil {
		if err := s.opts.Store.MarkMailSent(markCtx, m.ID, s.opts.Now()); err != nil {
			// It will be sent again once the lease ends; the Message-ID makes the
			// copy recognisable.
			log.ErrorContext(ctx, "mail sent but not marked sent", "err", err)
			return
		}
		log.InfoContext(ctx, "mail sent", "attempts", m.Attempts+1)
		return
	}
	delay := Backoff(m.Attempts+1, s.opts.BaseDelay, s.opts.MaxDelay)
	attempts, merr := s.opts.Store.MarkMailFailed(markCtx, m.ID, s.opts.Now().Add(delay), errorText(err))
	if merr != nil {
		log.ErrorContext(ctx, "mail failed and the failure was not recorded", "err", err, "mark_err", merr)
		return
	}
	if attempts >= s.opts.MaxAttempts {
		log.ErrorContext(ctx, "mail given up: kept in the outbox, not tried again", "attempts", attempts, "err", err)
		return
	}
	log.WarnContext(ctx, "mail failed; will retry", "attempts", attempts, "retry_in", delay.String(), "err", err)
}

// Backoff is the wait before try attempts+1: base doubled per failure, capped at
// max, then jittered down to between half and all of it, so that the retries of
// many mails (or instances) do not arrive in step.
func Backoff(attempts int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempts && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// errorText is what last_error keeps: the server's answer, one bounded line.
func errorText(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > maxErrorBytes {
		s = s[:maxErrorBytes]
	}
	return strings.ToValidUTF8(s, "?")
}
