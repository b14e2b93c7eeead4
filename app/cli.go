package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/store"
)

const usageText = `usage:
  fiberauth                          serve (see README for configuration)
  fiberauth users create --username NAME [--role user|admin]   (password on stdin)
  fiberauth users list
  fiberauth users disable NAME | enable NAME | logout NAME | reset-second-factor NAME
  fiberauth users set-role NAME --role user|admin      (or: set-role NAME admin)
  fiberauth keys create --user NAME --permissions read,write [--expires 720h] [--name NAME]
  fiberauth keys list [--user NAME]
  fiberauth keys revoke ID
  fiberauth keys roll ID [--grace 24h]                 a new secret; the old one works for the grace period
  fiberauth tokens rotate-signing-key                  a new key signs; the old one verifies until its tokens expire
  fiberauth mail test --to ADDRESS                     queue a test message and send it now (with SMTP_URL)`

// helpFor returns the usage for a command line that asks for help (-h, -help or
// --help anywhere, or "help" first), narrowed to its command group (users, keys)
// when it names one.
func helpFor(args []string) (string, bool) {
	asked := len(args) > 0 && args[0] == "help"
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			asked = true
		}
	}
	if !asked {
		return "", false
	}
	if len(args) > 0 && (args[0] == "users" || args[0] == "keys") {
		lines := []string{"usage:"}
		for _, l := range strings.Split(usageText, "\n") {
			if strings.HasPrefix(strings.TrimSpace(l), "fiberauth "+args[0]+" ") {
				lines = append(lines, l)
			}
		}
		return strings.Join(lines, "\n"), true
	}
	return usageText, true
}

// runCommand runs one admin command. Each change is written to the audit log with
// the actor "cli". shared says whether this process shares state with the servers
// (REDIS_URL), so that what it changes reaches their caches at once.
func runCommand(ctx context.Context, svc *auth.Service, shared bool, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) < 2 {
		return fmt.Errorf("%w\n%s", errUsage, usageText)
	}
	cmd, rest := args[0]+" "+args[1], args[2:]
	switch cmd {
	case "users create":
		return usersCreate(ctx, svc, rest, stdin, stdout)
	case "users list":
		return usersList(ctx, svc, stdout)
	case "users disable", "users enable", "users logout", "users reset-second-factor":
		return usersAdmin(ctx, svc, shared, args[1], rest, stdout)
	case "users set-role":
		return usersSetRole(ctx, svc, shared, rest, stdout)
	case "keys create":
		return keysCreate(ctx, svc, rest, stdout)
	case "keys list":
		return keysList(ctx, svc, rest, stdout)
	case "keys revoke":
		return keysRevoke(ctx, svc, shared, rest, stdout)
	case "keys roll":
		return keysRoll(ctx, svc, rest, stdout)
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, cmd, usageText)
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// usersCreate reads the password from the first line of stdin, never from a flag:
// flags end up in shell history and process listings.
func usersCreate(ctx context.Context, svc *auth.Service, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlags("users create")
	username := fs.String("username", "", "")
	role := fs.String("role", store.RoleUser, "")
	if err := fs.Parse(args); err != nil || *username == "" {
		return fmt.Errorf("%w: users create --username NAME [--role user|admin], password on stdin", errUsage)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	u, err := svc.CreateUser(ctx, *username, password, *role)
	if err != nil {
		return describeCLIError(err)
	}
	svc.Audit(ctx, store.AuditEvent{Actor: "cli", Action: "user.create", Outcome: "success", Detail: u.Username + " (" + u.Role + ")"})
	fmt.Fprintf(stdout, "created user %s (id %d, role %s)\n", u.Username, u.ID, u.Role)
	return nil
}

func usersList(ctx context.Context, svc *auth.Service, stdout io.Writer) error {
	users, err := svc.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSERNAME\tROLE\tACTIVE KEYS\tCREATED\tLAST LOGIN")
	for _, u := range users {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", u.ID, u.Username, u.Role, u.ActiveKeys, u.CreatedAt.Format(time.RFC3339), formatTime(u.LastLoginAt))
	}
	return tw.Flush()
}

// adminAction is one of the admin controls, as the CLI runs it and reports it.
type adminAction struct {
	do   func(ctx context.Context, actor auth.Actor, userID int64) (store.User, error)
	done string // what happened, after the username
	// endsAccess: a running server without REDIS_URL learns of it only through the
	// database (access.go), within auth.LocalGenerationTTL.
	endsAccess bool
}

func adminActions(svc *auth.Service) map[string]adminAction {
	return map[string]adminAction{
		"disable":             {svc.DisableUser, "is disabled: their sessions have ended, and their password and keys are refused", true},
		"enable":              {svc.EnableUser, "is enabled again", false},
		"logout":              {svc.LogoutEverywhere, "is logged out everywhere: every session has ended (password and keys still work)", true},
		"reset-second-factor": {svc.ResetSecondFactor, "has no second factor now: TOTP, recovery codes, remembered browsers and passkeys are removed", false},
	}
}

// usersAdmin runs users disable|enable|logout|reset-second-factor NAME, with the
// same rules as the admin pages (the last admin cannot be disabled) and the actor
// "cli" in the audit log.
func usersAdmin(ctx context.Context, svc *auth.Service, shared bool, verb string, args []string, stdout io.Writer) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: users %s NAME", errUsage, verb)
	}
	action := adminActions(svc)[verb]
	u, err := svc.UserPrincipalByName(ctx, args[0])
	if err != nil {
		return describeCLIError(err)
	}
	if _, err := action.do(ctx, auth.CLIActor(), u.UserID); err != nil {
		return describeCLIError(err)
	}
	fmt.Fprintf(stdout, "%s (id %d) %s\n", u.Username, u.UserID, action.done)
	if action.endsAccess {
		noteWithoutRedis(shared, stdout)
	}
	return nil
}

// usersSetRole runs users set-role NAME --role ROLE (or NAME ROLE).
func usersSetRole(ctx context.Context, svc *auth.Service, shared bool, args []string, stdout io.Writer) error {
	const usage = "users set-role NAME --role user|admin"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	name := args[0]
	fs := newFlags("users set-role")
	role := fs.String("role", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	switch rest := fs.Args(); {
	case len(rest) == 1 && *role == "":
		*role = rest[0]
	case len(rest) != 0 || *role == "":
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	u, err := svc.UserPrincipalByName(ctx, name)
	if err != nil {
		return describeCLIError(err)
	}
	changed, err := svc.SetRole(ctx, auth.CLIActor(), u.UserID, *role)
	if err != nil {
		return describeCLIError(err)
	}
	if u.Role == changed.Role {
		fmt.Fprintf(stdout, "%s (id %d) already has the role %s\n", changed.Username, changed.ID, changed.Role)
		return nil
	}
	fmt.Fprintf(stdout, "%s (id %d) now has the role %s (was %s): their sessions have ended\n", changed.Username, changed.ID, changed.Role, u.Role)
	noteWithoutRedis(shared, stdout)
	return nil
}

// noteWithoutRedis says when a running server learns that a user's access ended:
// with Redis at once; without, it reads the user's generation from the database
// at most every auth.LocalGenerationTTL.
func noteWithoutRedis(shared bool, stdout io.Writer) {
	if !shared {
		fmt.Fprintf(stdout, "a running server without REDIS_URL sees this within %s (with Redis: at once)\n", auth.LocalGenerationTTL)
	}
}

func keysCreate(ctx context.Context, svc *auth.Service, args []string, stdout io.Writer) error {
	fs := newFlags("keys create")
	username := fs.String("user", "", "")
	perms := fs.String("permissions", "read", "")
	expires := fs.Duration("expires", 0, "")
	name := fs.String("name", "", "")
	if err := fs.Parse(args); err != nil || *username == "" {
		return fmt.Errorf("%w: keys create --user NAME --permissions read,write [--expires 720h] [--name NAME]", errUsage)
	}
	permissions, err := auth.ParsePermissions(*perms)
	if err != nil {
		return describeCLIError(err)
	}
	u, err := svc.UserPrincipalByName(ctx, *username)
	if err != nil {
		return describeCLIError(err)
	}
	if *name == "" {
		*name = "CLI key (" + strings.Join(permissions, ", ") + ")"
	}
	k, err := svc.CreateAPIKey(ctx, u.UserID, *name, permissions, *expires)
	if err != nil {
		return describeCLIError(err)
	}
	svc.Audit(ctx, store.AuditEvent{Actor: "cli", Action: "key.create", Outcome: "success",
		Detail: fmt.Sprintf("key %d (%s) for %s", k.ID, k.Prefix, u.Username)})
	fmt.Fprintf(stdout, "created key %d for %s (%s), expires %s\n", k.ID, u.Username, strings.Join(k.Permissions, ","), formatTime(k.ExpiresAt))
	fmt.Fprintf(stdout, "%s\n", k.Key)
	fmt.Fprintln(stdout, "This is the only time the key is shown. Store it now.")
	return nil
}

func keysList(ctx context.Context, svc *auth.Service, args []string, stdout io.Writer) error {
	fs := newFlags("keys list")
	username := fs.String("user", "", "")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: keys list [--user NAME]", errUsage)
	}
	var userID int64
	if *username != "" {
		u, err := svc.UserPrincipalByName(ctx, *username)
		if err != nil {
			return describeCLIError(err)
		}
		userID = u.UserID
	}
	keys, err := svc.ListAPIKeys(ctx, userID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tOWNER\tNAME\tPREFIX\tPERMISSIONS\tCREATED\tLAST USED\tEXPIRES\tREVOKED")
	for _, k := range keys {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Username, k.Name, k.Prefix, strings.Join(k.Permissions, ","),
			k.CreatedAt.Format(time.RFC3339), formatTime(k.LastUsedAt), formatTime(k.ExpiresAt), formatTime(k.RevokedAt))
	}
	return tw.Flush()
}

func keysRevoke(ctx context.Context, svc *auth.Service, shared bool, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("%w: keys revoke ID", errUsage)
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("%w: keys revoke ID (a positive number, see keys list)", errUsage)
	}
	k, err := svc.RevokeAPIKey(ctx, 0, id)
	if err != nil {
		return describeCLIError(err)
	}
	svc.Audit(ctx, store.AuditEvent{Actor: "cli", Action: "key.revoke", Outcome: "success",
		Detail: fmt.Sprintf("key %d (%s) of %s", k.ID, k.Prefix, k.Username)})
	fmt.Fprintf(stdout, "revoked key %d (%s) of %s\n", k.ID, k.Prefix, k.Username)
	if !shared {
		// Without Redis the server shares only the database with this process, and
		// reads it for a key at most every 5 s: an SQL query per request is what its
		// key cache exists to save.
		fmt.Fprintln(stdout, "a running server without REDIS_URL refuses it within 5 seconds (with Redis: at once)")
	}
	return nil
}

func formatTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}

// describeCLIError spells out validation details for a terminal.
func describeCLIError(err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) && len(ae.Fields) > 0 {
		parts := make([]string, 0, len(ae.Fields))
		for _, f := range ae.Fields {
			parts = append(parts, f.Field+" "+f.Message)
		}
		return fmt.Errorf("%s: %s", ae.Message, strings.Join(parts, "; "))
	}
	return err
}
