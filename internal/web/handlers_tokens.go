package web

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/token"
)

const localToken = "token"

// tokenResponse is a successful answer of POST /token (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// usersMeResponse is the answer of GET /users/me.
type usersMeResponse struct {
	Username string   `json:"username"`
	Role     string   `json:"role"`
	Scopes   []string `json:"scopes"`
}

// oauthError is an error of the token endpoint, in RFC 6749 §5.2's shape.
type oauthError struct {
	status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func invalidRequest(description string) *oauthError {
	return &oauthError{status: fiber.StatusBadRequest, Code: "invalid_request", Description: description}
}

// oauthErrors answers the token endpoint's errors as RFC 6749 §5.2 says (only
// here: everything else keeps the envelope), and keeps its answers out of caches.
func (s *server) oauthErrors(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	err := c.Next()
	if err == nil {
		return nil
	}
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
	case errors.Is(err, auth.ErrInvalidCredentials):
		oe = &oauthError{fiber.StatusBadRequest, "invalid_grant", "Invalid credentials"}
	case errors.Is(err, token.ErrInvalidGrant):
		oe = &oauthError{fiber.StatusBadRequest, "invalid_grant", token.ErrInvalidGrant.Message}
	case errors.Is(err, token.ErrInvalidScope):
		oe = &oauthError{fiber.StatusBadRequest, "invalid_scope", token.ErrInvalidScope.Message}
	case apperr.Is(err, apperr.KindForbidden): // a right password that is not enough, or a disabled account
		oe = &oauthError{fiber.StatusForbidden, "invalid_grant", describe(err).Message}
	case apperr.Is(err, apperr.KindRateLimited):
		oe = &oauthError{fiber.StatusTooManyRequests, "slow_down", describe(err).Message}
	case apperr.Is(err, apperr.KindBadRequest), apperr.Is(err, apperr.KindValidation),
		apperr.Is(err, apperr.KindUnsupportedMedia):
		oe = invalidRequest(describe(err).Message)
	case apperr.Is(err, apperr.KindUnavailable):
		oe = &oauthError{fiber.StatusServiceUnavailable, "temporarily_unavailable", describe(err).Message}
	default:
		return err // a 500 keeps the envelope, its request ID and its log line
	}
	if oe.status == fiber.StatusTooManyRequests && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	return c.Status(oe.status).JSON(oe)
}

// tokenParam reads a form parameter the token endpoint takes at most once (RFC
// 6749 §3.2: a repeated one is invalid_request).
func tokenParam(c *fiber.Ctx, name string) (string, error) {
	vals := c.Request().PostArgs().PeekMulti(name)
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
		return string(vals[0]), nil
	}
	return "", invalidRequest("Parameter " + name + " is repeated")
}

// tokenForm is the token endpoint's body: form-encoded, nothing else.
func tokenForm(c *fiber.Ctx) error {
	if !hasMediaType(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationForm) {
		return invalidRequest("The body must be application/x-www-form-urlencoded")
	}
	return c.Next()
}

// passwordGrantUsername is the username of a password grant, for throttling; the
// other grants are not password checks and are skipped.
func passwordGrantUsername(c *fiber.Ctx) string { return c.FormValue("username") }

func notPasswordGrant(c *fiber.Ctx) bool { return c.FormValue("grant_type") != "password" }

// POST /token: the password grant and the refresh grant (RFC 6749 §4.3, §6).
func (s *server) handleToken(c *fiber.Ctx) error {
	params := map[string]string{}
	for _, name := range []string{"grant_type", "username", "password", "refresh_token", "scope"} {
		v, err := tokenParam(c, name)
		if err != nil {
			return err
		}
		params[name] = v
	}
	var pair token.Pair
	switch params["grant_type"] {
	case "password":
		if params["username"] == "" || params["password"] == "" {
			return invalidRequest("username and password are required")
		}
		p, err := s.auth.Login(c.UserContext(), params["username"], params["password"], s.clientIP(c))
		if err != nil {
			return err
		}
		if err := passwordGrantAllowed(p); err != nil {
			return err
		}
		scopes, err := token.Scopes(params["scope"], p.Role)
		if err != nil {
			return err
		}
		if pair, err = s.tokens.Issue(c.UserContext(), p, scopes,
			token.Client{IP: s.clientIP(c), UserAgent: c.Get(fiber.HeaderUserAgent)}); err != nil {
			return err
		}
	case "refresh_token":
		if params["refresh_token"] == "" {
			return invalidRequest("refresh_token is required")
		}
		var err error
		if pair, err = s.tokens.Refresh(c.UserContext(), params["refresh_token"], params["scope"], s.clientIP(c)); err != nil {
			return err
		}
	case "":
		return invalidRequest("grant_type is required")
	default:
		return &oauthError{fiber.StatusBadRequest, "unsupported_grant_type", "grant_type must be password or refresh_token"}
	}
	return c.JSON(tokenResponse{AccessToken: pair.AccessToken, TokenType: "bearer", ExpiresIn: pair.ExpiresIn,
		RefreshToken: pair.RefreshToken, Scope: pair.Scope})
}

// passwordGrantAllowed refuses the password grant to a user with a second
// factor: no code can follow a password here.
func passwordGrantAllowed(p auth.Principal) error {
	if p.SecondFactor != "" {
		return auth.ErrSecondFactorRequired
	}
	return nil
}

// POST /token/revoke (RFC 7009): ends the family of a refresh or access token.
// The answer is 200 whatever the token was, so it tells a caller nothing.
func (s *server) handleTokenRevoke(c *fiber.Ctx) error {
	tok, err := tokenParam(c, "token")
	if err != nil {
		return err
	}
	if tok == "" {
		return invalidRequest("token is required")
	}
	if err := s.tokens.Revoke(c.UserContext(), tok, s.clientIP(c)); err != nil {
		return err
	}
	return c.JSON(fiber.Map{})
}

// GET /.well-known/jwks.json: the public keys that verify access tokens now.
func (s *server) handleJWKS(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(fiber.Map{"keys": s.tokens.JWKS(c.UserContext())})
}

// GET /users/me: who the access token speaks for (FastAPI's tutorial route).
func (s *server) handleUsersMe(c *fiber.Ctx) error {
	p, _ := c.Locals(localToken).(*token.Principal)
	if p == nil {
		return errNotAuthenticated
	}
	return c.JSON(usersMeResponse{Username: p.Username, Role: p.Role, Scopes: p.Scopes})
}

// tokenAuth authenticates with a JWT access token in "Authorization: Bearer" (a
// bearer credential of three base64url parts; anything else is an API key). With
// optional set, a request without one passes through untouched.
func (s *server) tokenAuth(optional bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if authenticated(c) {
			return c.Next()
		}
		scheme, cred := authScheme(c.Get(fiber.HeaderAuthorization))
		if scheme != "bearer" || !token.LooksLikeJWT(cred) {
			if optional {
				return c.Next()
			}
			c.Set(fiber.HeaderWWWAuthenticate, challengeBearer)
			return errNotAuthenticated
		}
		p, err := s.tokens.Verify(c.UserContext(), cred)
		if err != nil {
			if apperr.Is(err, apperr.KindUnauthenticated) {
				c.Set(fiber.HeaderWWWAuthenticate, challengeBearer+`, error="invalid_token"`)
			}
			return err
		}
		c.Locals(localPrincipal, p.Principal)
		c.Locals(localToken, p)
		return c.Next()
	}
}
