package web

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// verifyOp is the playground's second step of a login with a second factor. It is
// not offered on its own: it follows POST /login when that answers 202.
var verifyOp = playOp{ID: "verifyLogin", Method: fiber.MethodPost, Path: "/login/verify", Body: "{}"}

// playSecondStep follows a login's 202 (the user has a second factor): with the
// form's code it calls POST /login/verify with the pending login's cookie, as a
// client would. It returns the steps to list and the call and answer that stand
// for the login from here on (the login's own 202 when no code was given).
func (s *server) playSecondStep(c *fiber.Ctx, in playInput, login playOp, loginCall innerCall, first innerResult,
	next func() int) ([]exchangeStep, innerCall, innerResult, playOp) {
	steps := []exchangeStep{{Call: login.Method + " " + login.Path, Status: first.status,
		Note: "the password is right; " + in.Username + " has a second factor"}}
	pending := first.cookies[pendingCookie]
	if in.Code == "" || pending == "" {
		steps = append(steps, exchangeStep{Call: verifyOp.Method + " " + verifyOp.Path,
			Note: "not sent: type a code of the user's authenticator app (or a recovery code) in the Code field"})
		steps[0].Shown = true
		return steps, loginCall, first, login
	}
	field := "code"
	if strings.ContainsFunc(in.Code, func(r rune) bool { return r < '0' || r > '9' }) {
		field = "recovery_code"
	}
	body, _ := json.Marshal(map[string]string{field: in.Code})
	call := innerCall{Method: verifyOp.Method, Path: verifyOp.Path, Headers: []headerLine{
		{fiber.HeaderHost, string(c.Request().Host())},
		{fiber.HeaderUserAgent, "fiberauth-playground"},
		{fiber.HeaderAccept, fiber.MIMEApplicationJSON},
		{fiber.HeaderXRequestID, fmt.Sprintf("%s-%d", requestID(c), next())},
		{fiber.HeaderContentType, fiber.MIMEApplicationJSON},
		{fiber.HeaderContentLength, fmt.Sprint(len(body))},
		{fiber.HeaderCookie, pendingCookie + "=" + pending},
	}, Body: body}
	res := s.serveInner(c, call)
	steps = append(steps, exchangeStep{Call: verifyOp.Method + " " + verifyOp.Path, Status: res.status, Note: "the code"})
	return steps, call, res, verifyOp
}
