package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"fiberauth/internal/config"
	"fiberauth/internal/service"
)

// mailCommand runs `mail test --to ADDRESS`: it queues a test message in the
// outbox, as any mail is, and with SMTP_URL sends what is due at once, reporting
// how the test message fared.
func mailCommand(ctx context.Context, cfg config.Config, core *service.Core, logger *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "test" {
		return fmt.Errorf("%w\n%s", errUsage, usageText)
	}
	fs := newFlags("mail test")
	to := fs.String("to", "", "address")
	if err := fs.Parse(args[1:]); err != nil || *to == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: mail test --to ADDRESS", errUsage)
	}
	sender, rec, err := service.OpenMail(cfg, core, logger)
	if err != nil {
		return err
	}
	m, err := rec.QueueTest(ctx, *to)
	if err != nil {
		return describeCLIError(err)
	}
	if sender == nil {
		fmt.Fprintf(stdout, "queued test message %s to %s; SMTP_URL is not set, so it stays in the outbox (see /dev/mailbox)\n",
			m.MessageID, m.To)
		return nil
	}
	if _, err := sender.RunOnce(ctx); err != nil {
		return err
	}
	mail, err := core.Store.ListMail(ctx, 100)
	if err != nil {
		return err
	}
	for _, got := range mail {
		if got.MessageID != m.MessageID {
			continue
		}
		if got.SentAt != nil {
			fmt.Fprintf(stdout, "sent test message %s to %s\n", m.MessageID, m.To)
			return nil
		}
		return fmt.Errorf("the test message to %s is not sent yet (kept in the outbox, retried later): %s", m.To, got.LastError)
	}
	fmt.Fprintf(stdout, "queued test message %s to %s (another instance may send it)\n", m.MessageID, m.To)
	return nil
}
