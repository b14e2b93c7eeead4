package web

import (
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/template/html/v2"
)

// Template names, so a typo is a compile error rather than a 500.
const (
	layoutMain = "layouts/main"

	pageHome       = "pages/home"
	pageLogin      = "pages/login"
	pageRegister   = "pages/register"
	pageDashboard  = "pages/dashboard"
	pageAccount    = "pages/account"
	pageAdminUsers = "pages/admin_users"
	pageAdminAudit = "pages/admin_audit"
	pageAdminUser  = "pages/admin_user"
	pageError      = "pages/error"
	pagePlayground = "pages/playground"
	pageDocs       = "pages/docs"
	pageSessions   = "pages/account_sessions"
	pageForgot     = "pages/password_forgot"
	pageReset      = "pages/password_reset"
	pageVerify     = "pages/email_verify"
	pageMailbox    = "pages/dev_mailbox"

	fragLoginForm    = "partials/login_form"
	fragRegisterForm = "partials/register_form"
	fragPasswordForm = "partials/password_form"
	fragKeyForm      = "partials/key_form"
	fragKeyCreated   = "partials/key_created"
	fragKeyRow       = "partials/key_revoked"
	fragError        = "partials/error"
	fragSessions     = "partials/sessions"
	fragAdminUser    = "partials/admin_user"
	fragForgotForm   = "partials/forgot_form"
	fragResetForm    = "partials/reset_form"
	fragEmailForm    = "partials/email_form"
	fragPasskeyList  = "partials/account_passkeys"

	fragPlaygroundForm = "partials/playground_form"
	fragExchanges      = "partials/exchanges"

	pageLoginVerify = "pages/login_verify"
	fragLoginVerify = "partials/login_verify_form"
	fragAccountTOTP = "partials/account_totp"

	fragAuditFilter = "partials/audit_filter"
	fragAuditRows   = "partials/audit_rows"
)

// NewViews parses the templates in fsys (the embedded views, or the views folder in
// development) and fails on the first template error, which Fiber would only log.
// With reload set, every render reads the templates again, so edits show at once.
func NewViews(fsys fs.FS, reload bool) (*html.Engine, error) {
	engine := html.NewFileSystem(http.FS(fsys), ".html")
	engine.AddFuncMap(templateFuncs())
	engine.Reload(reload)
	if err := engine.Load(); err != nil {
		return nil, fmt.Errorf("views: %w", err)
	}
	for _, name := range []string{layoutMain, pageHome, pageLogin, pageRegister, pageDashboard, pageAccount,
		pageAdminUsers, pageError, fragLoginForm, fragRegisterForm, fragPasswordForm, fragKeyForm,
		fragKeyCreated, fragKeyRow, fragError, pagePlayground, pageDocs, fragPlaygroundForm, fragExchanges,
		pageSessions, fragSessions, pageAdminAudit, fragAuditFilter, fragAuditRows,
		pageAdminUser, fragAdminUser, pageForgot, pageReset, pageVerify, pageMailbox, fragForgotForm, fragResetForm,
		fragEmailForm, pageLoginVerify, fragLoginVerify, fragAccountTOTP, fragPasskeyList} {
		if engine.Templates.Lookup(name) == nil {
			return nil, fmt.Errorf("views: template %q is missing", name)
		}
	}
	return engine, nil
}

// templateFuncs are the few helpers templates need; everything else is data.
func templateFuncs() map[string]any {
	return map[string]any{
		// when formats a time (or *time.Time; nil gives "") the same way everywhere.
		"when": func(t any) string {
			if tt, ok := timeOf(t); ok {
				return tt.UTC().Format("2 Jan 2006, 15:04 UTC")
			}
			return ""
		},
		// iso formats a time for a <time datetime> attribute.
		"iso": func(t any) string {
			if tt, ok := timeOf(t); ok {
				return tt.UTC().Format(time.RFC3339)
			}
			return ""
		},
		"join": strings.Join,
		// md and mdInline render the OpenAPI document's bits of Markdown (apiref.go).
		"md":       markdown,
		"mdInline": inlineMarkdown,
		"contains": slices.Contains[[]string],
		// dict builds a map for passing several values to a partial.
		"dict": func(kv ...any) (map[string]any, error) {
			if len(kv)%2 != 0 {
				return nil, fmt.Errorf("dict: odd number of arguments")
			}
			m := make(map[string]any, len(kv)/2)
			for i := 0; i < len(kv); i += 2 {
				k, ok := kv[i].(string)
				if !ok {
					return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
				}
				m[k] = kv[i+1]
			}
			return m, nil
		},
	}
}

func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t != nil {
			return *t, !t.IsZero()
		}
	}
	return time.Time{}, false
}
