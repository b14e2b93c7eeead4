package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"fiberauth/internal/auth"
	"fiberauth/internal/store"
	"fiberauth/internal/token"
)

const tokensUsage = `usage:
  fiberauth tokens rotate-signing-key   a new key signs; the old ones verify until their tokens expire`

// tokensCommand runs tokens SUBCOMMAND.
func tokensCommand(ctx context.Context, tokens *token.Service, accessTTL time.Duration, args []string, stdout io.Writer) error {
	if len(args) != 1 || args[0] != "rotate-signing-key" {
		return fmt.Errorf("%w\n%s", errUsage, tokensUsage)
	}
	kid, err := tokens.RotateSigningKey(ctx)
	if err != nil {
		return describeCLIError(err)
	}
	fmt.Fprintf(stdout, "new signing key %s; the old one still verifies for %s (ACCESS_TOKEN_TTL) plus a minute, then is dropped from /.well-known/jwks.json\n",
		kid, accessTTL)
	fmt.Fprintln(stdout, "running servers sign with the new key within a minute, and verify it at once")
	return nil
}

// keysRoll runs keys roll ID [--grace 24h]: a new secret for the key; the old one
// keeps working for the grace period.
func keysRoll(ctx context.Context, svc *auth.Service, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keys roll", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	grace := fs.Duration("grace", 24*time.Hour, "")
	if len(args) < 1 {
		return fmt.Errorf("%w: keys roll ID [--grace 24h]", errUsage)
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 || fs.Parse(args[1:]) != nil || fs.NArg() != 0 || *grace < 0 || *grace > 168*time.Hour {
		return fmt.Errorf("%w: keys roll ID [--grace 24h] (ID from keys list; grace 0s..168h)", errUsage)
	}
	old, next, err := svc.RollAPIKey(ctx, 0, id, *grace)
	if err != nil {
		return describeCLIError(err)
	}
	svc.Audit(ctx, store.AuditEvent{Actor: "cli", Action: "key.roll", Outcome: "success",
		Detail: fmt.Sprintf("key %d (%s) of %s rolled to key %d (%s), old one ends %s", old.ID, old.Prefix, old.Username,
			next.ID, next.Prefix, old.ExpiresAt.UTC().Format(time.RFC3339))})
	fmt.Fprintf(stdout, "rolled key %d of %s: new key %d (%s); the old one works until %s\n", old.ID, old.Username, next.ID,
		next.Prefix, old.ExpiresAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(stdout, "%s\n", next.Key)
	fmt.Fprintln(stdout, "This is the only time the key is shown. Store it now.")
	return nil
}
