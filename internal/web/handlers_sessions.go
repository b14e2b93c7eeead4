package web

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/mileusna/useragent"

	"fiberauth/internal/apperr"
	"fiberauth/internal/sessions"
	"fiberauth/internal/token"
	"fiberauth/internal/web/htmx"
)

// sessionResponse is one of the user's sessions as GET /account/sessions lists it.
type sessionResponse struct {
	ID         string    `json:"id"` // the public handle, never the cookie value
	Current    bool      `json:"current"`
	Method     string    `json:"method"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	IP         string    `json:"ip"`
	UserAgent  string    `json:"user_agent"`
	Device     string    `json:"device"`
}

var errSessionNotFound = apperr.New(apperr.KindNotFound, "Session not found")

// validHandle is the shape of a session's public handle (sessions.Start makes it):
// anything else is not found before anything is looked up.
var validHandle = regexp.MustCompile(`^[a-z2-7]{16}$`)

// userSessions lists the logged-in user's live sessions, newest first.
func (s *server) userSessions(c *fiber.Ctx) ([]sessionResponse, error) {
	p, _ := principal(c)
	list, err := s.sessions.List(c, p.UserID)
	if err != nil {
		return nil, err
	}
	out := make([]sessionResponse, 0, len(list))
	for _, l := range list {
		out = append(out, sessionResponse{ID: l.Handle, Current: l.Current, Method: l.Method, CreatedAt: l.CreatedAt,
			LastSeenAt: l.LastSeenAt, ExpiresAt: l.ExpiresAt, IP: l.ClientIP, UserAgent: l.UserAgent,
			Device: deviceLabel(l.UserAgent)})
	}
	// Each live refresh-token family is a session too (method "token").
	families, err := s.tokens.Families(c.UserContext(), p.UserID)
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		out = append(out, sessionResponse{ID: f.Handle, Method: token.MethodToken, CreatedAt: f.CreatedAt,
			LastSeenAt: f.LastUsedAt, ExpiresAt: f.ExpiresAt, IP: f.ClientIP, UserAgent: f.UserAgent,
			Device: deviceLabel(f.UserAgent)})
	}
	remembered, err := s.rememberedSessions(c, p) // handlers_totp.go
	if err != nil {
		return nil, err
	}
	out = append(out, remembered...)
	slices.SortStableFunc(out, func(a, b sessionResponse) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

// deviceLabel is a short human name for a User-Agent, e.g. "Chrome 156 on Linux",
// from github.com/mileusna/useragent (a kept parser with no dependencies and no
// data files to update; it names browsers and systems, which is all a user needs to
// recognise their own device).
func deviceLabel(ua string) string {
	if strings.TrimSpace(ua) == "" {
		return "Unknown device"
	}
	parsed := useragent.Parse(ua)
	name := parsed.Name
	if v, _, _ := strings.Cut(parsed.Version, "."); name != "" && v != "" {
		name += " " + v
	}
	switch {
	case name != "" && parsed.OS != "":
		return name + " on " + parsed.OS
	case name != "":
		return name
	case parsed.OS != "":
		return parsed.OS
	}
	return "Unknown device"
}

// GET /account/sessions: the user's sessions, as a page or JSON.
func (s *server) handleSessionsList(c *fiber.Ctx) error {
	list, err := s.userSessions(c)
	if err != nil {
		return err
	}
	if browser(c) {
		data := s.viewData(c, "Your sessions", "account")
		data.Page = list
		return s.render(c, fiber.StatusOK, view{page: pageSessions, fragment: fragSessions}, data)
	}
	return c.JSON(fiber.Map{"sessions": list})
}

// DELETE /account/sessions/:id (JSON, htmx) and POST /account/sessions/:id/end (a
// plain form): end one of the user's sessions. It is refused on its next request,
// on every instance. Another user's handle is "not found", like an unknown one.
func (s *server) handleSessionEnd(c *fiber.Ctx) error {
	p, _ := principal(c)
	handle := c.Params("id")
	if !validHandle.MatchString(handle) {
		return errSessionNotFound
	}
	asking, _ := c.Locals(localSession).(sessions.Info)
	found, wasAsking, err := s.sessions.EndByHandle(c.UserContext(), p.UserID, handle, asking.ID)
	if err != nil {
		return err
	}
	if !found { // not a session: perhaps a token family
		if found, err = s.tokens.EndFamily(c.UserContext(), p.UserID, handle); err != nil {
			return err
		}
	}
	if !found { // a remembered browser has a handle of the same kind (handlers_totp.go)
		if found, err = s.forgetRemembered(c, p, handle); err != nil {
			return err
		}
		if !found {
			return errSessionNotFound
		}
		return s.sessionsAnswer(c, "browser-forgotten", fiber.StatusNoContent, nil)
	}
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "session.end", s.clientIP(c), "success", "session "+handle))
	if wasAsking { // this very session: as a logout
		if browser(c) {
			setFlash(c, "logged-out", s.cfg.Production())
			return redirect(c, "/login")
		}
		return c.SendStatus(fiber.StatusNoContent)
	}
	return s.sessionsAnswer(c, "session-ended", fiber.StatusNoContent, nil)
}

// POST /account/sessions/revoke-others: end every session of the user but this one.
func (s *server) handleSessionsRevokeOthers(c *fiber.Ctx) error {
	p, _ := principal(c)
	info, _ := c.Locals(localSession).(sessions.Info)
	n, err := s.sessions.EndOthers(p.UserID, info.ID)
	if err != nil {
		return err
	}
	families, err := s.tokens.EndAllFamilies(c.UserContext(), p.UserID)
	if err != nil {
		return err
	}
	n += families
	s.auth.Audit(c.UserContext(), auditEvent(p.Username, "session.revoke-others", s.clientIP(c), "success",
		fmt.Sprintf("%d other sessions ended", n)))
	return s.sessionsAnswer(c, "sessions-ended", fiber.StatusOK, fiber.Map{"revoked": n})
}

// sessionsAnswer answers a change to the list: htmx gets the list again, a plain
// form the page (Post/Redirect/Get, with a flash), JSON the status and body.
func (s *server) sessionsAnswer(c *fiber.Ctx, flash string, status int, body fiber.Map) error {
	switch {
	case htmx.WantsFragment(c):
		list, err := s.userSessions(c)
		if err != nil {
			return err
		}
		data := s.viewData(c, "Your sessions", "account")
		data.Page = list
		return s.render(c, fiber.StatusOK, view{page: pageSessions, fragment: fragSessions}, data)
	case browser(c):
		setFlash(c, flash, s.cfg.Production())
		return redirect(c, "/account/sessions")
	case body == nil:
		return c.SendStatus(status)
	}
	return c.Status(status).JSON(body)
}
