package web

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// decodedJWT is an access token as the playground explains it: its header and
// claims, each with what it means. The signature is not shown.
type decodedJWT struct {
	Header []jwtField
	Claims []jwtField
}

type jwtField struct{ Name, Value, Meaning string }

// jwtMeanings says what each header field and claim of our access tokens is for.
var jwtMeanings = map[string]string{
	"alg":                "the signing algorithm; the server accepts only the one of the key kid names, whatever this says",
	"kid":                "which signing key; its public half is at /.well-known/jwks.json",
	"typ":                "the token type",
	"iss":                "the issuer (PUBLIC_URL); a token of another issuer is refused",
	"sub":                "the user's ID",
	"preferred_username": "the username",
	"role":               "the user's role at issue",
	"scope":              "what the token may do: the scopes asked for, capped by the role",
	"sid":                "the token family (one password grant and its refreshes); it is listed on the sessions page and ends there",
	"iat":                "issued at",
	"exp":                "expires at (ACCESS_TOKEN_TTL after issue); a refresh gets a new token",
	"jti":                "this token's unique ID",
	"gen":                "the user's access generation at issue: a password change, disable or logout everywhere moves it on and voids the token",
}

// decodeJWT reads an access token's header and claims without verifying it (the
// server has just issued it).
func decodeJWT(tok string) *decodedJWT {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil
	}
	fields := func(part string) []jwtField {
		raw, err := base64.RawURLEncoding.DecodeString(part)
		if err != nil {
			return nil
		}
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		out := make([]jwtField, 0, len(m))
		for k, v := range m {
			value := fmt.Sprint(v)
			if n, ok := v.(float64); ok && (k == "iat" || k == "exp" || k == "nbf") {
				value = fmt.Sprintf("%.0f (%s)", n, time.Unix(int64(n), 0).UTC().Format(time.RFC3339))
			} else if n, ok := v.(float64); ok {
				value = fmt.Sprintf("%.0f", n)
			}
			out = append(out, jwtField{Name: k, Value: value, Meaning: jwtMeanings[k]})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return &decodedJWT{Header: fields(parts[0]), Claims: fields(parts[1])}
}

// tokenCall is a form post to the token endpoint, as an OAuth client sends it.
func (s *server) tokenCall(c *fiber.Ctx, path string, form url.Values, n int) innerCall {
	body := []byte(form.Encode())
	return innerCall{Method: fiber.MethodPost, Path: path, Body: body, Headers: []headerLine{
		{fiber.HeaderHost, string(c.Request().Host())},
		{fiber.HeaderUserAgent, "fiberauth-playground"},
		{fiber.HeaderAccept, fiber.MIMEApplicationJSON},
		{fiber.HeaderXRequestID, fmt.Sprintf("%s-%d", requestID(c), n)},
		{fiber.HeaderContentType, fiber.MIMEApplicationForm},
		{fiber.HeaderContentLength, fmt.Sprint(len(body))},
	}}
}

// tryWithToken is the token method: the password grant, the call with the access
// token, a refresh (the refresh token rotates), and a revoke of the family, so
// trying it leaves no token family behind. The call is the exchange shown, with
// the access token decoded.
func (s *server) tryWithToken(c *fiber.Ctx, in playInput, ex exchange, base string, next func() int) exchange {
	var pair tokenResponse
	grant := s.tokenCall(c, "/token", url.Values{"grant_type": {"password"}, "username": {in.Username},
		"password": {in.Password}}, next())
	res := s.serveInner(c, grant)
	if res.status != fiber.StatusOK || json.Unmarshal(res.body, &pair) != nil || pair.AccessToken == "" {
		ex.Steps = []exchangeStep{
			{Call: "POST /token", Status: res.status, Note: "the password grant failed, so this is the answer shown", Shown: true},
			{Call: in.Op.Method + " " + in.Op.Path, Note: "not sent: there is no token to send"},
		}
		grantOp := playOp{ID: "token", Method: fiber.MethodPost, Path: "/token"}
		describeExchange(&ex, base, in, grant, res, grantOp)
		ex.Request.Body = "grant_type=password&username=" + url.QueryEscape(in.Username) + "&password=" + masked
		var oe oauthError
		if json.Unmarshal(res.body, &oe) == nil && oe.Code != "" {
			ex.Message = oe.Description
		}
		return ex
	}
	in.accessToken = pair.AccessToken
	in.tokens = []string{pair.AccessToken, pair.RefreshToken}
	ex.Steps = append(ex.Steps, exchangeStep{Call: "POST /token", Status: res.status,
		Note: "password grant: an access token (scope " + pair.Scope + ") and a refresh token"})

	call := s.callFor(c, in, in.Op, "", next())
	res = s.serveInner(c, call)
	ex.Steps = append(ex.Steps, exchangeStep{Call: in.Op.Method + " " + in.Op.Path, Status: res.status,
		Note: "with the access token: shown below", Shown: true})
	describeExchange(&ex, base, in, call, res, in.Op)
	ex.JWT = decodeJWT(pair.AccessToken)

	refreshed := s.serveInner(c, s.tokenCall(c, "/token", url.Values{"grant_type": {"refresh_token"},
		"refresh_token": {pair.RefreshToken}}, next()))
	var second tokenResponse
	note := "refresh grant: a new pair; the old refresh token is now spent, and presenting it again would end the family"
	if refreshed.status != fiber.StatusOK || json.Unmarshal(refreshed.body, &second) != nil {
		note = "the refresh failed"
		second.RefreshToken = pair.RefreshToken
	}
	ex.Steps = append(ex.Steps, exchangeStep{Call: "POST /token", Status: refreshed.status, Note: note})
	end := s.serveInner(c, s.tokenCall(c, "/token/revoke", url.Values{"token": {second.RefreshToken}}, next()))
	ex.Steps = append(ex.Steps, exchangeStep{Call: "POST /token/revoke", Status: end.status,
		Note: "the throwaway family is revoked: its tokens stop working at once"})
	return ex
}
