package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
	"fiberauth/internal/web/htmx"
)

// keyResponse is one key as GET /keys lists it. Status is for the pages only.
type keyResponse struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Permissions []string   `json:"permissions"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
	Status      string     `json:"-"` // active, expired or revoked
}

// keyCreatedResponse is the answer to POST /keys: the only time Key is ever shown.
type keyCreatedResponse struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Permissions []string   `json:"permissions"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Key         string     `json:"key"`
}

var errKeyNotFound = apperr.New(apperr.KindNotFound, "API key not found")

func (s *server) keyView(k store.APIKey) keyResponse {
	status := "active"
	switch {
	case k.RevokedAt != nil:
		status = "revoked"
	case k.ExpiresAt != nil && !s.auth.Now().Before(*k.ExpiresAt):
		status = "expired"
	}
	perms := k.Permissions
	if perms == nil {
		perms = []string{}
	}
	return keyResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Permissions: perms, CreatedAt: k.CreatedAt,
		LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, Status: status}
}

// keys lists a user's keys, newest first.
func (s *server) keys(c *fiber.Ctx, userID int64) ([]keyResponse, error) {
	keys, err := s.auth.ListAPIKeys(c.UserContext(), userID)
	if err != nil {
		return nil, err
	}
	out := make([]keyResponse, 0, len(keys))
	for _, k := range keys {
		out = append(out, s.keyView(k))
	}
	return out, nil
}

// GET /keys: the logged-in user's keys. Browsers see them on the dashboard.
func (s *server) handleKeysList(c *fiber.Ctx) error {
	if browser(c) {
		return c.Redirect("/dashboard#keys", fiber.StatusSeeOther)
	}
	p, _ := principal(c)
	keys, err := s.keys(c, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"keys": keys})
}

// keyRequest is the body of POST /keys.
type keyRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	ExpiresIn   string   `json:"expires_in"`
}

// bindKeyRequest reads a key request from JSON or a form (permissions as repeated
// checkboxes), and parses the expiry ("" for none).
func bindKeyRequest(c *fiber.Ctx) (keyRequest, time.Duration, error) {
	var req keyRequest
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &req); err != nil {
			return req, 0, err
		}
	case isForm(c):
		req = keyRequest{Name: c.FormValue("name"), Permissions: formValues(c, "permissions"), ExpiresIn: c.FormValue("expires_in")}
	default:
		return req, 0, unsupportedMediaType("application/json or a form")
	}
	var expiresIn time.Duration
	if e := strings.TrimSpace(req.ExpiresIn); e != "" {
		d, err := time.ParseDuration(e)
		if err != nil {
			return req, 0, apperr.Validation("Validation error", apperr.FieldError{Field: "expires_in", Message: "must be a duration such as 720h, or empty for no expiry"})
		}
		if d <= 0 {
			return req, 0, apperr.Validation("Validation error", apperr.FieldError{Field: "expires_in", Message: "must be positive, or empty for no expiry"})
		}
		expiresIn = d
	}
	return req, expiresIn, nil
}

// formValues is every value of a repeated form field.
func formValues(c *fiber.Ctx, name string) []string {
	var out []string
	if hasMediaType(c.Get(fiber.HeaderContentType), fiber.MIMEMultipartForm) {
		if mf, err := c.MultipartForm(); err == nil {
			return mf.Value[name]
		}
		return nil
	}
	for _, v := range c.Request().PostArgs().PeekMulti(name) {
		out = append(out, string(v))
	}
	return out
}

// POST /keys: a new key for the logged-in user. JSON -> 201 with the secret; a
// browser gets the keys section with the secret shown once.
func (s *server) handleKeyCreate(c *fiber.Ctx) error {
	p, _ := principal(c)
	req, expiresIn, err := bindKeyRequest(c)
	if err != nil {
		return err
	}
	k, err := s.auth.CreateAPIKey(c.UserContext(), p.UserID, req.Name, req.Permissions, expiresIn)
	if err != nil {
		return err
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "key.create", s.clientIP(c), "success",
		fmt.Sprintf("key %d %q (%s, %s)", k.ID, k.Name, k.Prefix, strings.Join(k.Permissions, ","))))
	created := keyCreatedResponse{ID: k.ID, Name: k.Name, Prefix: k.Prefix, Permissions: k.Permissions,
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, Key: k.Key}
	if !browser(c) {
		return c.Status(fiber.StatusCreated).JSON(created)
	}
	// A plain form post is answered Post/Redirect/Get, so the address bar shows the
	// dashboard and a reload does not post again; the secret waits for the next
	// request in a one-time handoff. If the handoff cannot take it, the secret is
	// shown in this answer instead: it is never lost.
	if !htmx.WantsFragment(c) {
		err := s.handOverKey(c, p.UserID, created)
		if err == nil {
			return redirect(c, "/dashboard#new-key")
		}
		s.log.WarnContext(c.UserContext(), "handing the new key to the next page failed; showing it here",
			"request_id", requestID(c), "err", err)
	}
	page, err := s.dashboard(c)
	if err != nil {
		return err
	}
	page.NewKey = &created
	data := s.viewData(c, "Dashboard", "dashboard")
	data.Page = page
	return s.render(c, fiber.StatusCreated, view{page: pageDashboard, fragment: fragKeyCreated}, data)
}

// newKeyCookie carries the ticket of a new key's handoff from POST /keys to the
// dashboard it redirects to. It holds no secret: the ticket opens the handoff
// once, for its owner only, within newKeyHandoffTTL.
const (
	newKeyCookie     = "new_key"
	newKeyCookiePath = "/dashboard"
	newKeyHandoffTTL = time.Minute
)

// handOverKey keeps the new key for the user's next request (the redirect's).
func (s *server) handOverKey(c *fiber.Ctx, userID int64, created keyCreatedResponse) error {
	raw, err := json.Marshal(created)
	if err != nil {
		return err
	}
	ticket, err := s.handoff.Put(strconv.FormatInt(userID, 10), raw)
	if err != nil {
		return err
	}
	c.Cookie(&fiber.Cookie{Name: newKeyCookie, Value: ticket, Path: newKeyCookiePath,
		MaxAge: int(newKeyHandoffTTL / time.Second), Secure: s.cfg.Production(), HTTPOnly: true,
		SameSite: fiber.CookieSameSiteLaxMode})
	return nil
}

// takeNewKey returns the key a form post just created for the logged-in user, the
// one time it is asked (nil when there is none). gone reports a handoff that was
// announced but can no longer be taken (expired, or taken already).
func (s *server) takeNewKey(c *fiber.Ctx) (key *keyCreatedResponse, gone bool) {
	ticket := c.Cookies(newKeyCookie)
	if ticket == "" {
		return nil, false
	}
	c.Cookie(&fiber.Cookie{Name: newKeyCookie, Path: newKeyCookiePath, Expires: time.Unix(0, 0), MaxAge: -1,
		Secure: s.cfg.Production(), HTTPOnly: true, SameSite: fiber.CookieSameSiteLaxMode})
	p, _ := principal(c)
	raw, ok, err := s.handoff.Take(strconv.FormatInt(p.UserID, 10), ticket)
	if err != nil {
		s.log.WarnContext(c.UserContext(), "taking the new key's handoff failed", "request_id", requestID(c), "err", err)
	}
	var created keyCreatedResponse
	if !ok || json.Unmarshal(raw, &created) != nil {
		return nil, true
	}
	return &created, false
}

// keyRevokedPage is what an htmx revoke answers with (key_revoked.html).
type keyRevokedPage struct {
	Key        keyResponse
	Audit      []store.AuditEvent
	DropSecret bool // the page shows this key's secret: take it off
}

// DELETE /keys/:id (JSON, htmx) and POST /keys/:id/revoke (a plain form): revoke one
// of the user's own keys. Another user's key is "not found", never "forbidden", so
// key IDs reveal nothing.
func (s *server) handleKeyRevoke(c *fiber.Ctx) error {
	p, _ := principal(c)
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw { // one spelling per key: no "+1", "01"
		return errKeyNotFound
	}
	k, err := s.auth.RevokeAPIKey(c.UserContext(), p.UserID, id)
	if err != nil {
		return err
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "key.revoke", s.clientIP(c), "success",
		fmt.Sprintf("key %d %q (%s)", k.ID, k.Name, k.Prefix)))
	switch {
	case htmx.WantsFragment(c):
		// The row, and what else on the page it changes: the activity, and the
		// secret if the page still shows this key's (the page says which: keys.html).
		events, err := s.auth.RecentAudit(c.UserContext(), p.Username, dashboardActivity)
		if err != nil {
			return err
		}
		data := s.viewData(c, "Dashboard", "dashboard")
		data.Page = keyRevokedPage{Key: s.keyView(k), Audit: events, DropSecret: c.Query("shown_key") == raw}
		return s.render(c, fiber.StatusOK, view{page: pageDashboard, fragment: fragKeyRow}, data)
	case browser(c):
		setFlash(c, "key-revoked", s.cfg.Production())
		return redirect(c, "/dashboard#keys")
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// keyRolledResponse is the answer to POST /keys/:id/roll: the new key (its secret
// shown this once) and when the old one stops working.
type keyRolledResponse struct {
	keyCreatedResponse
	RolledFrom rolledFrom `json:"rolled_from"`
}

type rolledFrom struct {
	ID        int64      `json:"id"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// keyRollForm is the dashboard's roll button, for errors shown in the page.
func (s *server) keyRollForm() *form {
	return &form{id: "key-form", view: view{page: pageDashboard, fragment: fragKeyForm},
		title: "Dashboard", nav: "dashboard", page: func(c *fiber.Ctx) (any, error) { return s.dashboard(c) }}
}

// POST /keys/:id/roll {"grace":"24h"}: a new secret for one of the user's keys;
// the old one keeps working for the grace period (0..168h, default 24h), so
// programs can move over without downtime. A browser is sent to the dashboard,
// which shows the new secret once (the same handoff as POST /keys).
func (s *server) handleKeyRoll(c *fiber.Ctx) error {
	p, _ := principal(c)
	raw := c.Params("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != raw {
		return errKeyNotFound
	}
	var req struct {
		Grace string `json:"grace"`
	}
	switch {
	case isJSON(c):
		if len(c.Body()) > 0 {
			if err := decodeJSONObject(c, &req); err != nil {
				return err
			}
		}
	case isForm(c):
		req.Grace = c.FormValue("grace")
	case len(c.Body()) > 0:
		return unsupportedMediaType("application/json or a form")
	}
	grace, err := parseGrace(req.Grace)
	if err != nil {
		return err
	}
	old, next, err := s.auth.RollAPIKey(c.UserContext(), p.UserID, id, grace)
	if err != nil {
		return err
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "key.roll", s.clientIP(c), "success",
		fmt.Sprintf("key %d %q (%s) rolled to key %d (%s), old one ends %s", old.ID, old.Name, old.Prefix, next.ID,
			next.Prefix, old.ExpiresAt.UTC().Format(time.RFC3339))))
	created := keyCreatedResponse{ID: next.ID, Name: next.Name, Prefix: next.Prefix, Permissions: next.Permissions,
		CreatedAt: next.CreatedAt, ExpiresAt: next.ExpiresAt, Key: next.Key}
	if !browser(c) {
		return c.Status(fiber.StatusCreated).JSON(keyRolledResponse{keyCreatedResponse: created,
			RolledFrom: rolledFrom{ID: old.ID, ExpiresAt: old.ExpiresAt}})
	}
	if err := s.handOverKey(c, p.UserID, created); err != nil {
		return err
	}
	return redirect(c, "/dashboard#new-key")
}

// maxRollGrace bounds how long a rolled key keeps working.
const maxRollGrace = 168 * time.Hour

// parseGrace reads a roll's grace period: empty is 24h.
func parseGrace(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxRollGrace || len(v) > 16 {
		return 0, apperr.Validation("The grace period must be a duration from 0s to 168h, such as 24h",
			apperr.FieldError{Field: "grace", Message: "must be a duration from 0s to 168h, such as 24h"})
	}
	return d, nil
}
