package service

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"fiberauth/internal/testenv"
)

// grantOn runs the password grant on one instance.
func grantOn(t *testing.T, srv *Server, username, password string) (access, refresh string) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}
	resp, body := send(t, srv, "POST", "/token", form.Encode(), "Content-Type", "application/x-www-form-urlencoded")
	if resp.StatusCode != 200 {
		t.Fatalf("password grant: %d %s", resp.StatusCode, body)
	}
	var tr struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(body), &tr); err != nil {
		t.Fatal(err)
	}
	return tr.Access, tr.Refresh
}

func meOn(t *testing.T, srv *Server, access string) int {
	t.Helper()
	resp, _ := send(t, srv, "GET", "/users/me", "", "Authorization", "Bearer "+access)
	return resp.StatusCode
}

// Two instances on PostgreSQL and Redis: a token issued on one works on the
// other, a signing key rotated on one verifies on the other, and whatever ends a
// token on one (revoking its family, a password change) ends it on the other at
// its very next use, caches and all.
func TestTokensAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, testenv.RedisURL(t), map[string]string{"RATE_LIMIT_MAX": "100000"})

	before, _ := grantOn(t, a, "john", "secret123")
	if _, err := a.Tokens.RotateSigningKey(t.Context()); err != nil {
		t.Fatal(err)
	}
	after, refresh := grantOn(t, a, "john", "secret123")
	if strings.Split(before, ".")[0] == strings.Split(after, ".")[0] {
		t.Fatal("the rotation did not change the kid")
	}
	for name, tok := range map[string]string{"the old key's token": before, "the new key's token": after} {
		if code := meOn(t, b, tok); code != 200 {
			t.Fatalf("%s on the other instance: %d", name, code)
		}
	}

	// The family ends on A; B had verified (and cached) its access token.
	if resp, body := send(t, a, "POST", "/token/revoke", url.Values{"token": {refresh}}.Encode(),
		"Content-Type", "application/x-www-form-urlencoded"); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d %s", resp.StatusCode, body)
	}
	if code := meOn(t, b, after); code != 401 {
		t.Fatalf("a revoked family's token on the other instance: %d", code)
	}
	if code := meOn(t, b, before); code != 200 {
		t.Fatalf("another family's token: %d", code)
	}

	// A password change on B ends every token of the user on A.
	if code := meOn(t, a, before); code != 200 {
		t.Fatalf("before the change: %d", code)
	}
	john, err := b.Auth.UserPrincipalByName(t.Context(), "john")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Auth.ChangePassword(t.Context(), john.UserID, "secret123", "a-new-password-1"); err != nil {
		t.Fatal(err)
	}
	if code := meOn(t, a, before); code != 401 {
		t.Fatalf("a token older than a password change made on the other instance: %d", code)
	}
}

// A key rolled on one instance with no grace stops working on the other at
// once, though the other had it cached as valid; the new key works there.
func TestKeyRollAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, testenv.RedisURL(t), map[string]string{"RATE_LIMIT_MAX": "100000"})
	data := func(srv *Server, key string) int {
		resp, _ := send(t, srv, "GET", "/apikey/data", "", "X-API-Key", key)
		return resp.StatusCode
	}
	if data(b, "sk_test_123") != 200 {
		t.Fatal("the demo key does not work")
	}
	keys, err := a.Auth.ListAPIKeys(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	for _, k := range keys {
		if k.Prefix == "sk_test_1" {
			id = k.ID
		}
	}
	_, next, err := a.Auth.RollAPIKey(t.Context(), 0, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if code := data(b, "sk_test_123"); code != 401 {
		t.Fatalf("the rolled key on the other instance: %d", code)
	}
	if code := data(b, next.Key); code != 200 {
		t.Fatalf("the new key on the other instance: %d", code)
	}
}
