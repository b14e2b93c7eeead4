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
  fiberauth keys create --user NAME --permissions read,write [--expires 720h] [--name NAME]
  fiberauth keys list [--user NAME]
  fiberauth keys revoke ID`

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
	case "keys create":
		return keysCreate(ctx, svc, rest, stdout)
	case "keys list":
		return keysList(ctx, svc, rest, stdout)
	case "keys revoke":
		return keysRevoke(ctx, svc, shared, rest, stdout)
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
