package web

import (
	"bytes"
	"encoding/json"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/sessions"
	"fiberauth/internal/store"
)

type messageResponse struct {
	Message string `json:"message"`
}

// GET /healthz: the process is alive.
func (s *server) handleHealthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok"})
}

// GET /readyz: the database and the storage answer.
func (s *server) handleReadyz(c *fiber.Ctx) error {
	checks := fiber.Map{"database": "ok", "storage": "ok"}
	ready := true
	if err := s.auth.Ready(c.UserContext()); err != nil {
		s.log.WarnContext(c.UserContext(), "readiness: database", "err", err)
		checks["database"], ready = "unavailable", false
	}
	if s.storageReady != nil {
		if err := s.storageReady(c.UserContext()); err != nil {
			s.log.WarnContext(c.UserContext(), "readiness: storage", "err", err)
			checks["storage"], ready = "unavailable", false
		}
	}
	if !ready {
		return apperr.New(apperr.KindUnavailable, "Not ready")
	}
	return c.JSON(fiber.Map{"status": "ok", "checks": checks})
}

// GET /openapi.json: the document, built once at start-up.
func (s *server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(s.apiDoc.JSON)
}

// GET /basic/profile
func (s *server) handleBasicProfile(c *fiber.Ctx) error {
	p, _ := principal(c)
	return c.JSON(messageResponse{Message: "Welcome " + p.Username + "!"})
}

// GET /basic/admin
func (s *server) handleBasicAdmin(c *fiber.Ctx) error {
	return c.JSON(messageResponse{Message: "You're in the admin zone."})
}

// GET /apikey/data
func (s *server) handleAPIKeyData(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"data": []string{"item1", "item2"}})
}

// POST /apikey/create: echoes the item, a JSON object, as the article does.
func (s *server) handleAPIKeyCreate(c *fiber.Ctx) error {
	if !isJSON(c) {
		return unsupportedMediaType("application/json")
	}
	var item map[string]json.RawMessage
	if err := decodeJSONObject(c, &item); err != nil {
		return err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, c.Body()); err != nil {
		return errMalformedJSON
	}
	return c.JSON(struct {
		Message string          `json:"message"`
		Item    json.RawMessage `json:"item"`
	}{"Item created", compact.Bytes()})
}

// POST /login: JSON for the article's clients; a browser's form post is sent on to
// the page it came for (or the dashboard).
func (s *server) handleLogin(c *fiber.Ctx) error {
	cr, err := bindCredentials(c)
	if err != nil {
		return err
	}
	p, err := s.auth.Login(c.UserContext(), cr.Username, cr.Password, s.clientIP(c))
	if err != nil {
		return err
	}
	if p.SecondFactor != "" { // handlers_totp.go
		return s.secondFactorStep(c, p, localPath(c.FormValue("next"), ""))
	}
	if _, err := s.sessions.Start(c, p, s.login(c, loginPassword)); err != nil {
		return err
	}
	if browser(c) {
		return redirect(c, localPath(c.FormValue("next"), "/dashboard"))
	}
	return c.JSON(messageResponse{Message: "Login successful"})
}

// GET /dashboard: a greeting for JSON clients, the dashboard page for browsers.
func (s *server) handleDashboard(c *fiber.Ctx) error {
	p, _ := principal(c)
	if browser(c) {
		page, err := s.dashboard(c)
		if err != nil {
			return err
		}
		data := s.viewData(c, "Dashboard", "dashboard")
		var gone bool
		if page.NewKey, gone = s.takeNewKey(c); gone {
			data.Flash = flashMessages["key-secret-gone"]
		}
		data.Page = page
		return s.render(c, fiber.StatusOK, view{page: pageDashboard}, data)
	}
	return c.JSON(messageResponse{Message: "Welcome to your dashboard, " + p.Username + "!"})
}

// POST /logout: ends the session server-side; logging out twice is not an error.
// A browser goes to the login page.
func (s *server) handleLogout(c *fiber.Ctx) error {
	if info, ok, err := s.sessions.Current(c); err != nil {
		return err
	} else if ok {
		if err := s.sessions.End(c); err != nil {
			return err
		}
		s.auth.Audit(c.UserContext(), auditEvent(info.Username, "logout", s.clientIP(c), "success", ""))
	}
	if browser(c) {
		setFlash(c, "logged-out", s.cfg.Production())
		return redirect(c, "/login")
	}
	return c.JSON(messageResponse{Message: "Logged out successfully"})
}

type whoamiResponse struct {
	Username     string   `json:"username"`
	Role         string   `json:"role"`
	Method       string   `json:"method"`
	Permissions  []string `json:"permissions"`
	SecondFactor *string  `json:"second_factor"` // "totp" or null
}

// GET /whoami: who the request authenticated as, by whichever method.
func (s *server) handleWhoami(c *fiber.Ctx) error {
	p, _ := principal(c)
	factor, err := s.secondFactorOf(c, p.UserID)
	if err != nil {
		return err
	}
	return c.JSON(whoamiResponse{Username: p.Username, Role: p.Role, Method: p.Method, Permissions: p.Permissions,
		SecondFactor: factor})
}

func auditEvent(actor, action, clientIP, outcome, detail string) store.AuditEvent {
	return store.AuditEvent{Actor: actor, Action: action, ClientIP: clientIP, Outcome: outcome, Detail: detail}
}

// How a session logged in, as the sessions page shows it.
const loginPassword = "password"

// login is what a login records of the request, for the sessions page.
func (s *server) login(c *fiber.Ctx, method string) sessions.Login {
	return sessions.Login{Method: method, ClientIP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}
}
