package web

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"

	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/secretbox"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
	"fiberauth/internal/token"
)

// newTestTokens is the token service of a test app, with a fresh SECRETS_KEY.
func newTestTokens(t testing.TB, cfg config.Config, st store.Store, storage *shared.Memory, svc *auth.Service,
	clock *testenv.Clock) (*token.Service, []byte) {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tokens, err := token.New(t.Context(), token.Options{Store: st, Shared: storage, Access: svc, Audit: svc,
		SecretsKey: key, Algorithm: cfg.JWTAlgorithm, HS256Key: cfg.JWTSecret, Issuer: cfg.PublicURL,
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, Now: clock.Now})
	if err != nil {
		t.Fatalf("tokens: %v", err)
	}
	return tokens, key
}

// tokenForm posts a form to the token endpoint.
func tokenRequest(path string, values url.Values) *http.Request {
	return request("POST", path, values.Encode(), "Content-Type", "application/x-www-form-urlencoded")
}

// grant runs the password grant and returns the answer.
func (a *testApp) grant(t testing.TB, username, password, scope string) tokenResponse {
	t.Helper()
	v := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	if scope != "" {
		v.Set("scope", scope)
	}
	resp, body := a.do(t, tokenRequest("/token", v))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password grant for %s: %d %s", username, resp.StatusCode, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	return tr
}

func (a *testApp) refresh(t testing.TB, refresh string) (*http.Response, string) {
	t.Helper()
	return a.do(t, tokenRequest("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}))
}

// me calls GET /users/me with an access token.
func (a *testApp) me(t testing.TB, access string) (*http.Response, string) {
	t.Helper()
	return a.do(t, request("GET", "/users/me", "", "Authorization", "Bearer "+access))
}

// wantInvalidToken checks a refusal is 401 Invalid token with the RFC 6750 challenge.
func wantInvalidToken(t testing.TB, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("WWW-Authenticate"); got != `Bearer realm="fiberauth", error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if e := envelope(t, body); e.Message != "Invalid token" {
		t.Errorf("message %q", e.Message)
	}
}

// oauthBody decodes an RFC 6749 §5.2 error.
func oauthBody(t testing.TB, body string) (code, description string) {
	t.Helper()
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error == "" {
		t.Fatalf("not an RFC 6749 error: %q", body)
	}
	return e.Error, e.Description
}

func TestTokenOAuth2ClientPasswordGrantAndRefresh(t *testing.T) {
	a := newTestApp(t, nil)
	base := a.serve(t)
	conf := &oauth2.Config{Endpoint: oauth2.Endpoint{TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"read"}}
	ctx := t.Context()
	tok, err := conf.PasswordCredentialsToken(ctx, "john", "secret123")
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	if tok.TokenType != "bearer" || tok.RefreshToken == "" || tok.Extra("scope") != "read" {
		t.Fatalf("token %+v scope %v", tok, tok.Extra("scope"))
	}
	get := func(client *http.Client) map[string]any {
		t.Helper()
		resp, err := client.Get(base + "/users/me")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var me map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&me)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /users/me: %d %v", resp.StatusCode, me)
		}
		return me
	}
	if me := get(conf.Client(ctx, tok)); me["username"] != "john" || me["role"] != "user" {
		t.Fatalf("/users/me %v", me)
	}

	// Past the access token's expiry (the server's clock; the client is told its
	// token has expired too): the TokenSource refreshes by itself.
	a.clock.Advance(31 * time.Minute)
	resp, body := a.me(t, tok.AccessToken)
	wantInvalidToken(t, resp, body)
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	src := conf.TokenSource(ctx, &expired)
	if me := get(oauth2.NewClient(ctx, src)); me["username"] != "john" {
		t.Fatalf("/users/me after refresh %v", me)
	}
	fresh, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("the refresh did not rotate both tokens")
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	a := newTestApp(t, nil)
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		wantCode   string
	}{
		{"a wrong password is invalid_grant", tokenRequest("/token", form("grant_type", "password", "username", "john", "password", "nope")), 400, "invalid_grant"},
		{"an unknown user is invalid_grant", tokenRequest("/token", form("grant_type", "password", "username", "nobody", "password", "nope")), 400, "invalid_grant"},
		{"an unknown grant type", tokenRequest("/token", form("grant_type", "client_credentials")), 400, "unsupported_grant_type"},
		{"no grant type", tokenRequest("/token", form("username", "john")), 400, "invalid_request"},
		{"a repeated parameter", tokenRequest("/token", form("grant_type", "password", "username", "john", "username", "alice", "password", "secret123")), 400, "invalid_request"},
		{"no password", tokenRequest("/token", form("grant_type", "password", "username", "john")), 400, "invalid_request"},
		{"a JSON body", jsonRequest("POST", "/token", `{"grant_type":"password"}`), 400, "invalid_request"},
		{"an unknown scope", tokenRequest("/token", form("grant_type", "password", "username", "john", "password", "secret123", "scope", "read delete")), 400, "invalid_scope"},
		{"a scope beyond the role", tokenRequest("/token", form("grant_type", "password", "username", "john", "password", "secret123", "scope", "admin")), 400, "invalid_scope"},
		{"an unknown refresh token", tokenRequest("/token", form("grant_type", "refresh_token", "refresh_token", "made-up")), 400, "invalid_grant"},
		{"no refresh token", tokenRequest("/token", form("grant_type", "refresh_token")), 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tt.req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if code, _ := oauthBody(t, body); code != tt.wantCode {
				t.Errorf("error %q, want %q", code, tt.wantCode)
			}
			if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
				t.Errorf("Cache-Control %q Pragma %q", resp.Header.Get("Cache-Control"), resp.Header.Get("Pragma"))
			}
		})
	}

	t.Run("the scope is capped by the role", func(t *testing.T) {
		if got := a.grant(t, "john", "secret123", "").Scope; got != "read write" {
			t.Errorf("john's default scope %q", got)
		}
		if got := a.grant(t, "admin", "supersecret", "").Scope; got != "admin read write" {
			t.Errorf("admin's default scope %q", got)
		}
		if got := a.grant(t, "john", "secret123", "write admin").Scope; got != "write" {
			t.Errorf("john asking write admin got %q", got)
		}
	})

	t.Run("a disabled user's right password is 403 invalid_grant", func(t *testing.T) {
		u, _ := a.store.UserByUsername(t.Context(), "bob")
		if _, err := a.auth.DisableUser(t.Context(), auth.Actor{Name: "cli"}, u.ID); err != nil {
			t.Fatal(err)
		}
		resp, body := a.do(t, tokenRequest("/token", form("grant_type", "password", "username", "bob", "password", "securepass")))
		if code, desc := oauthBody(t, body); resp.StatusCode != 403 || code != "invalid_grant" || desc != "Account disabled" {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("failed grants are throttled like logins: 429 with Retry-After", func(t *testing.T) {
		var resp *http.Response
		var body string
		for range a.cfg.LoginMaxFailures + 1 {
			resp, body = a.do(t, tokenRequest("/token", form("grant_type", "password", "username", "alice", "password", "wrong")))
		}
		if code, _ := oauthBody(t, body); resp.StatusCode != 429 || code != "slow_down" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("%d %s Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		// The right password is refused too while the subject is blocked.
		resp, _ = a.do(t, tokenRequest("/token", form("grant_type", "password", "username", "alice", "password", "password123")))
		if resp.StatusCode != 429 {
			t.Fatalf("right password while blocked: %d", resp.StatusCode)
		}
	})

	t.Run("revoke answers 200 whatever the token", func(t *testing.T) {
		for _, tok := range []string{"made-up", "a.b.c", strings.Repeat("x", 5000)} {
			resp, body := a.do(t, tokenRequest("/token/revoke", form("token", tok)))
			if resp.StatusCode != 200 {
				t.Errorf("revoke %.10q: %d %s", tok, resp.StatusCode, body)
			}
		}
	})
}

// signingKey is the test app's current Ed25519 signing key and kid, read from
// the database and opened as the service does: for forging tokens that are
// correctly signed but wrong in some other way.
func (a *testApp) signingKey(t testing.TB) (string, ed25519.PrivateKey) {
	t.Helper()
	keys, err := a.store.SigningKeys(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	box, err := secretbox.New(a.tokenKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.RetiredAt == nil {
			seed, err := box.Open(k.PrivateSealed, "jwt-signing-key:"+k.KID)
			if err != nil {
				t.Fatal(err)
			}
			return k.KID, ed25519.NewKeyFromSeed(seed)
		}
	}
	t.Fatal("no signing key")
	return "", nil
}

func TestTokenClassicAttacksAreRefused(t *testing.T) {
	a := newTestApp(t, nil)
	good := a.grant(t, "john", "secret123", "")
	if resp, body := a.me(t, good.AccessToken); resp.StatusCode != 200 {
		t.Fatalf("a good token: %d %s", resp.StatusCode, body)
	}
	kid, priv := a.signingKey(t)
	parts := strings.Split(good.AccessToken, ".")
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	// with returns the good token's claims with some changed.
	with := func(changes map[string]any) jwt.MapClaims {
		out := jwt.MapClaims{}
		for k, v := range claims {
			out[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	sign := func(method jwt.SigningMethod, kid string, key any, c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(method, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := a.clock.Now()
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	tampered := with(map[string]any{"role": "admin", "preferred_username": "admin"})
	tamperedJSON, _ := json.Marshal(tampered)

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", sign(jwt.SigningMethodNone, kid, jwt.UnsafeAllowNoneSignatureType, with(nil))},
		{"HS256 signed with the EdDSA public key (algorithm confusion)",
			sign(jwt.SigningMethodHS256, kid, []byte(priv.Public().(ed25519.PublicKey)), with(nil))},
		{"HS256 signed with the base64url public key as the JWKS shows it",
			sign(jwt.SigningMethodHS256, kid, []byte(base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))), with(nil))},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedJSON) + "." + parts[2]},
		{"tampered signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64))},
		{"unknown kid", sign(jwt.SigningMethodEdDSA, "kunknown", otherKey, with(nil))},
		{"no kid", sign(jwt.SigningMethodEdDSA, "", priv, with(nil))},
		{"the right kid, another key", sign(jwt.SigningMethodEdDSA, kid, otherKey, with(nil))},
		{"expired", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"exp": now.Add(-time.Second).Unix()}))},
		{"no exp", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"exp": nil}))},
		{"not yet valid (nbf)", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"nbf": now.Add(time.Hour).Unix()}))},
		{"issued in the future (iat)", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"iat": now.Add(time.Hour).Unix()}))},
		{"wrong iss", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"iss": "https://evil.example"}))},
		{"no iss", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"iss": nil}))},
		{"an older generation", sign(jwt.SigningMethodEdDSA, kid, priv, with(map[string]any{"gen": -1}))},
		{"a revoked family's sid", ""}, // filled below
		{"not a JWT at all", "a.b.c"},
	}
	// A family ended from the sessions page: its sid's marker.
	other := a.grant(t, "john", "secret123", "")
	if resp, body := a.do(t, tokenRequest("/token/revoke", url.Values{"token": {other.RefreshToken}})); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	tests[len(tests)-2].token = other.AccessToken
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.me(t, tt.token)
			wantInvalidToken(t, resp, body)
		})
	}

	t.Run("whoami says token for a good one", func(t *testing.T) {
		resp, body := a.do(t, request("GET", "/whoami", "", "Authorization", "Bearer "+good.AccessToken))
		if resp.StatusCode != 200 || !strings.Contains(body, `"method":"token"`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		resp, body = a.do(t, request("GET", "/whoami", "", "Authorization", "Bearer "+tests[0].token))
		wantInvalidToken(t, resp, body)
	})

	// Last, as they end john's access: every token of his, cached or not, fails.
	t.Run("a token older than a password change", func(t *testing.T) {
		fresh := a.grant(t, "john", "secret123", "")
		a.me(t, fresh.AccessToken) // cached as verified
		u, _ := a.store.UserByUsername(t.Context(), "john")
		if _, err := a.auth.ChangePassword(t.Context(), u.ID, "secret123", "new-secret-456"); err != nil {
			t.Fatal(err)
		}
		resp, body := a.me(t, fresh.AccessToken)
		wantInvalidToken(t, resp, body)
		resp, body = a.refresh(t, fresh.RefreshToken)
		if code, _ := oauthBody(t, body); resp.StatusCode != 400 || code != "invalid_grant" {
			t.Fatalf("refresh after a password change: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("a token of a disabled user", func(t *testing.T) {
		fresh := a.grant(t, "alice", "password123", "")
		a.me(t, fresh.AccessToken)
		u, _ := a.store.UserByUsername(t.Context(), "alice")
		if _, err := a.auth.DisableUser(t.Context(), auth.Actor{Name: "cli"}, u.ID); err != nil {
			t.Fatal(err)
		}
		resp, body := a.me(t, fresh.AccessToken)
		wantInvalidToken(t, resp, body)
	})
}

func TestTokenRefreshReuseRevokesTheFamily(t *testing.T) {
	a := newTestApp(t, nil)
	first := a.grant(t, "john", "secret123", "")
	resp, body := a.refresh(t, first.RefreshToken)
	if resp.StatusCode != 200 {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	var second tokenResponse
	_ = json.Unmarshal([]byte(body), &second)
	if resp, body := a.me(t, second.AccessToken); resp.StatusCode != 200 {
		t.Fatalf("the rotated token: %d %s", resp.StatusCode, body)
	}
	// The spent one comes back (a thief's copy, or the client's): the family ends.
	resp, body = a.refresh(t, first.RefreshToken)
	if code, _ := oauthBody(t, body); resp.StatusCode != 400 || code != "invalid_grant" {
		t.Fatalf("reuse: %d %s", resp.StatusCode, body)
	}
	resp, body = a.me(t, second.AccessToken)
	wantInvalidToken(t, resp, body)
	if resp, body := a.refresh(t, second.RefreshToken); resp.StatusCode != 400 {
		t.Fatalf("the family's newest refresh token after reuse: %d %s", resp.StatusCode, body)
	}
	if !strings.Contains(a.auditText(t), "token.reuse") {
		t.Error("the reuse is not in the audit log")
	}
}

func (a *testApp) auditText(t testing.TB) string {
	t.Helper()
	events, err := a.store.ListAudit(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range events {
		b.WriteString(e.Action + " " + e.Detail + "\n")
	}
	return b.String()
}

// Two refreshes of one token at once: exactly one wins, and the loser is treated
// as reuse, so the winner's new tokens die with the family (README: we cannot tell
// a client racing itself from a thief racing the client).
func TestTokenParallelRefreshesOfOneToken(t *testing.T) {
	a := newTestApp(t, nil)
	for round := range 5 {
		first := a.grant(t, "john", "secret123", "")
		var mu sync.Mutex
		statuses := map[int]int{}
		var winner tokenResponse
		testenv.Concurrently(2, func(int) {
			resp, body := a.refresh(t, first.RefreshToken)
			mu.Lock()
			defer mu.Unlock()
			statuses[resp.StatusCode]++
			if resp.StatusCode == 200 {
				_ = json.Unmarshal([]byte(body), &winner)
			}
		})
		if statuses[200] != 1 || statuses[400] != 1 {
			t.Fatalf("round %d: statuses %v, want one 200 and one 400", round, statuses)
		}
		resp, body := a.me(t, winner.AccessToken)
		wantInvalidToken(t, resp, body)
		if resp, _ := a.refresh(t, winner.RefreshToken); resp.StatusCode != 400 {
			t.Fatalf("round %d: the winner's refresh token still works", round)
		}
	}
}

func TestTokenFamiliesOnTheSessionsPage(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.mustLogin(t, "john", "secret123")
	pair := a.grant(t, "john", "secret123", "")
	list := func() []sessionResponse {
		t.Helper()
		resp, body := a.do(t, withCookie(request("GET", "/account/sessions", ""), c))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var out struct{ Sessions []sessionResponse }
		_ = json.Unmarshal([]byte(body), &out)
		return out.Sessions
	}
	var handle string
	for _, s := range list() {
		if s.Method == "token" {
			handle = s.ID
		}
	}
	if handle == "" {
		t.Fatalf("no token family listed: %+v", list())
	}
	resp, body := a.do(t, withCookie(request("DELETE", "/account/sessions/"+handle, ""), c))
	if resp.StatusCode != 204 {
		t.Fatalf("end the family: %d %s", resp.StatusCode, body)
	}
	resp, body = a.me(t, pair.AccessToken)
	wantInvalidToken(t, resp, body)
	if resp, _ := a.refresh(t, pair.RefreshToken); resp.StatusCode != 400 {
		t.Fatal("the ended family still refreshes")
	}
	for _, s := range list() {
		if s.Method == "token" {
			t.Fatalf("an ended family is still listed: %+v", s)
		}
	}

	t.Run("revoke-others ends families too", func(t *testing.T) {
		pair := a.grant(t, "john", "secret123", "")
		resp, body := a.do(t, withCookie(jsonRequest("POST", "/account/sessions/revoke-others", ""), c))
		if resp.StatusCode != 200 || !strings.Contains(body, `"revoked":1`) {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		resp, body = a.me(t, pair.AccessToken)
		wantInvalidToken(t, resp, body)
	})
}

func TestTokenJWKSListsTheVerifyingKeys(t *testing.T) {
	a := newTestApp(t, nil)
	resp, body := a.do(t, request("GET", "/.well-known/jwks.json", "")) // makes the first key
	kid, priv := a.signingKey(t)
	var jwks struct{ Keys []token.JWK }
	if err := json.Unmarshal([]byte(body), &jwks); err != nil || resp.StatusCode != 200 || len(jwks.Keys) != 1 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	k := jwks.Keys[0]
	if k.Kid != kid || k.Kty != "OKP" || k.Crv != "Ed25519" || k.Alg != "EdDSA" ||
		k.X != base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)) {
		t.Fatalf("jwk %+v", k)
	}
	if strings.Contains(body, "\"d\"") {
		t.Fatal("the JWKS shows a private key")
	}

	t.Run("after a rotation the old key still verifies its tokens, the new one signs", func(t *testing.T) {
		before := a.grant(t, "john", "secret123", "")
		newKID, err := a.tokens.RotateSigningKey(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		after := a.grant(t, "john", "secret123", "")
		for _, tok := range []string{before.AccessToken, after.AccessToken} {
			if resp, body := a.me(t, tok); resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
		}
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(after.AccessToken, ".")[0])
		if !strings.Contains(string(hdr), newKID) {
			t.Fatalf("the new token's header %s does not name %s", hdr, newKID)
		}
		_, body := a.do(t, request("GET", "/.well-known/jwks.json", ""))
		if !strings.Contains(body, kid) || !strings.Contains(body, newKID) {
			t.Fatalf("both keys should be listed: %s", body)
		}
	})
}

func TestTokenHS256(t *testing.T) {
	a := newTestApp(t, map[string]string{"JWT_ALGORITHM": "HS256", "JWT_SECRET": strings.Repeat("k", 40)})
	pair := a.grant(t, "john", "secret123", "")
	if resp, body := a.me(t, pair.AccessToken); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if _, body := a.do(t, request("GET", "/.well-known/jwks.json", "")); body != `{"keys":[]}` {
		t.Errorf("HS256 JWKS %s", body)
	}
	// An EdDSA token (any key) is refused when HS256 is configured, and an HS256
	// token under another secret too.
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	ed := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{"sub": "1", "iss": a.cfg.PublicURL,
		"exp": a.clock.Now().Add(time.Minute).Unix(), "iat": a.clock.Now().Unix(), "sid": "x"})
	ed.Header["kid"] = "hs256"
	s, _ := ed.SignedString(priv)
	resp, body := a.me(t, s)
	wantInvalidToken(t, resp, body)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "1", "iss": a.cfg.PublicURL,
		"exp": a.clock.Now().Add(time.Minute).Unix(), "iat": a.clock.Now().Unix(), "sid": "x"})
	hs.Header["kid"] = "hs256"
	s, _ = hs.SignedString([]byte(strings.Repeat("x", 40)))
	resp, body = a.me(t, s)
	wantInvalidToken(t, resp, body)
	// The right secret with another HMAC: the key's algorithm is the only one
	// accepted, whatever the header says (jwt's own key-type check cannot catch
	// this one: HS512 takes the same []byte key).
	var claims jwt.MapClaims
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(pair.AccessToken, ".")[1])
	_ = json.Unmarshal(payload, &claims)
	hs512 := jwt.NewWithClaims(jwt.SigningMethodHS512, claims)
	hs512.Header["kid"] = "hs256"
	s, _ = hs512.SignedString([]byte(strings.Repeat("k", 40)))
	resp, body = a.me(t, s)
	wantInvalidToken(t, resp, body)
}

func TestKeyRollGracePeriod(t *testing.T) {
	a := newTestApp(t, nil)
	c := a.mustLogin(t, "john", "secret123")
	csrf := func(r *http.Request) *http.Request { return withCookie(r, c) }
	resp, body := a.do(t, csrf(jsonRequest("POST", "/keys", `{"name":"ci","permissions":["read"]}`)))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	var old keyCreatedResponse
	_ = json.Unmarshal([]byte(body), &old)
	data := func(key string) int {
		resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer "+key))
		return resp.StatusCode
	}
	if data(old.Key) != 200 { // cached now, as a busy client's key would be
		t.Fatal("the old key does not work before the roll")
	}

	for _, bad := range []string{`{"grace":"169h"}`, `{"grace":"-1s"}`, `{"grace":"soon"}`} {
		resp, body := a.do(t, csrf(jsonRequest("POST", "/keys/"+strconv.FormatInt(old.ID, 10)+"/roll", bad)))
		if resp.StatusCode != 422 {
			t.Errorf("grace %s: %d %s", bad, resp.StatusCode, body)
		}
	}
	if resp, _ := a.do(t, csrf(jsonRequest("POST", "/keys/999999/roll", `{}`))); resp.StatusCode != 404 {
		t.Errorf("another's or no key: %d", resp.StatusCode)
	}

	resp, body = a.do(t, csrf(jsonRequest("POST", "/keys/"+strconv.FormatInt(old.ID, 10)+"/roll", `{"grace":"1h"}`)))
	if resp.StatusCode != 201 {
		t.Fatalf("roll: %d %s", resp.StatusCode, body)
	}
	var rolled keyRolledResponse
	_ = json.Unmarshal([]byte(body), &rolled)
	if rolled.Key == "" || rolled.Key == old.Key || rolled.Name != "ci" || rolled.RolledFrom.ID != old.ID ||
		rolled.RolledFrom.ExpiresAt == nil || rolled.RolledFrom.ExpiresAt.Sub(a.clock.Now()) > time.Hour {
		t.Fatalf("rolled %+v", rolled)
	}
	if data(old.Key) != 200 || data(rolled.Key) != 200 {
		t.Fatal("both keys should work during the grace period")
	}
	_, body = a.do(t, csrf(request("GET", "/keys", "")))
	if !strings.Contains(body, `"expires_at":"`+rolled.RolledFrom.ExpiresAt.Format(time.RFC3339Nano)) {
		t.Errorf("the list does not show the old key's end: %s", body)
	}
	a.clock.Advance(time.Hour + time.Second)
	if data(old.Key) != 401 {
		t.Fatal("the old key still works after the grace period")
	}
	if data(rolled.Key) != 200 {
		t.Fatal("the new key stopped working")
	}
	if !strings.Contains(a.auditText(t), "key.roll") {
		t.Error("the roll is not audited")
	}

	t.Run("a peer instance's cache sees the new end at once", func(t *testing.T) {
		// The marker a roll leaves: a cache entry that does not know the new end
		// is not trusted (auth's keyStillValid); see the service cross-instance test.
		raw, err := a.shared.Get("auth:key-revoked:" + strconv.FormatInt(old.ID, 10))
		if err != nil || !strings.HasPrefix(string(raw), "ends:") {
			t.Fatalf("marker %q %v", raw, err)
		}
	})
}

// The playground's token method: the password grant, the call with the access
// token, a refresh and a revoke, the JWT decoded with its claims explained, and no
// token or password on the page.
func TestPlaygroundTokenMethod(t *testing.T) {
	a := newTestApp(t, nil)
	p := a.playground(t)
	resp, body := p.send(t, "op", "usersMe", "auth", "token", "username", "john", "password", "secret123")
	if resp.StatusCode != 200 || innerStatus(t, body) != 200 {
		t.Fatalf("%d\n%s", resp.StatusCode, body)
	}
	mustContain(t, body, `"username": "john"`, "<code>POST /token</code> → <strong>200</strong>",
		"<code>POST /token/revoke</code> → <strong>200</strong>", "Authorization:</span> Bearer ••••••••",
		"The access token, decoded", "<code>preferred_username</code>", "<code>sid</code>", "the token family",
		"<code>kid</code>", `-H "Authorization: Bearer $TOKEN"`, "OAuth 2.0 access token (password grant) for john")
	mustNotContain(t, body, "secret123", "eyJ")
	// The throwaway family is gone: nothing is left on john's sessions page.
	u, _ := a.store.UserByUsername(t.Context(), "john")
	if fams, err := a.tokens.Families(t.Context(), u.ID); err != nil || len(fams) != 0 {
		t.Fatalf("families left behind: %v %v", fams, err)
	}

	resp, body = p.send(t, "op", "whoami", "auth", "token", "username", "john", "password", "wrong-password")
	if innerStatus(t, body) != 400 {
		t.Fatalf("wrong password: %d\n%s", resp.StatusCode, body)
	}
	mustContain(t, body, "the password grant failed", "Invalid credentials")
	mustNotContain(t, body, "wrong-password")
}

// The dashboard's Roll button without JavaScript: a plain form post, answered
// Post/Redirect/Get; the dashboard then shows the new secret once, and both keys
// are listed with their end times.
func TestKeyRollByAPlainForm(t *testing.T) {
	a := newTestApp(t, nil)
	alice := a.client()
	alice.login(t, "alice", "password123")
	_, page := alice.page(t, "/dashboard")
	mustContain(t, page, `action="/keys/2/roll"`, `name="grace"`, "Roll")
	token := alice.token(t, "/dashboard")
	resp, _ := alice.form(t, "/keys/2/roll", urlValues("grace", "1h", csrfFormField, token))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/dashboard#new-key" {
		t.Fatalf("%d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, page = alice.page(t, "/dashboard")
	secret := secretPattern.FindString(page)
	if secret == "" {
		t.Fatalf("no new secret on the dashboard:\n%s", page)
	}
	if resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer "+secret)); resp.StatusCode != 200 {
		t.Fatal("the new secret does not work")
	}
	if resp, _ := a.do(t, request("GET", "/apikey/data", "", "Authorization", "Bearer sk_live_456")); resp.StatusCode != 200 {
		t.Fatal("the old key stopped during its grace period")
	}
	if n := strings.Count(page, "Demo key (read only)"); n < 2 {
		t.Errorf("both keys should be listed, found the name %d times", n)
	}

	t.Run("a form without the CSRF token is refused", func(t *testing.T) {
		resp, _ := alice.form(t, "/keys/2/roll", urlValues("grace", "1h"))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
}

// The password grant refuses a right password of a user with a second factor
// (the TOTP work fills Principal.SecondFactor; here it is set directly).
// The password grant cannot carry a code: for a user enrolled in TOTP a right
// password is refused (403, RFC 6749 body) and no token or family is made; a
// wrong one stays the ordinary invalid_grant.
func TestPasswordGrantRefusesAnEnrolledUser(t *testing.T) {
	a := newTestApp(t, nil)
	enrolledUser(t, a, "carol", "carol-password")
	tests := []struct {
		name, password string
		status         int
		description    string
	}{
		{"right password", "carol-password", http.StatusForbidden, auth.ErrSecondFactorRequired.Message},
		{"wrong password", "not-carols", http.StatusBadRequest, "Invalid credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := a.do(t, tokenRequest("/token", url.Values{"grant_type": {"password"},
				"username": {"carol"}, "password": {tt.password}}))
			var e struct {
				Error       string `json:"error"`
				Description string `json:"error_description"`
			}
			if resp.StatusCode != tt.status || json.Unmarshal([]byte(body), &e) != nil ||
				e.Error != "invalid_grant" || e.Description != tt.description {
				t.Fatalf("got %d %s, want %d invalid_grant %q", resp.StatusCode, body, tt.status, tt.description)
			}
			if strings.Contains(body, "access_token") {
				t.Fatal("a token was issued")
			}
		})
	}
	u, err := a.store.UserByUsername(t.Context(), "carol")
	if err != nil {
		t.Fatal(err)
	}
	if families, err := a.tokens.Families(t.Context(), u.ID); err != nil || len(families) != 0 {
		t.Errorf("families after the refused grants: %v, %v", families, err)
	}
}

func TestPasswordGrantNeedsNoSecondFactor(t *testing.T) {
	if err := passwordGrantAllowed(auth.Principal{SecondFactor: "totp"}); !errors.Is(err, auth.ErrSecondFactorRequired) {
		t.Fatalf("with TOTP: %v", err)
	}
	if err := passwordGrantAllowed(auth.Principal{}); err != nil {
		t.Fatalf("without: %v", err)
	}
}
