package service

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"fiberauth/internal/passkey/softkey"
	"fiberauth/internal/testenv"
)

// passkeyCall sends a JSON POST to srv with cookies and returns the answer, its
// body and the cookies it set.
func passkeyCall(t *testing.T, srv *Server, path, body string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req := testenv.Request("POST", path, body, "Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	resp, err := srv.App.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

func setCookie(t *testing.T, resp *http.Response, name string) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no %s cookie set", name)
	return nil
}

// A passkey ceremony may begin on one instance and end on another, and a challenge
// logs in once across all of them: what spends it is one atomic step in Redis.
func TestPasskeysAcrossInstances(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a, b := twoInstances(t, testenv.RedisURL(t), map[string]string{"RATE_LIMIT_MAX": "1000",
		"SECRETS_KEY": base64.StdEncoding.EncodeToString(key)}) // both must open the sealed challenge
	pub, _ := url.Parse("http://localhost:3000")
	auth := softkey.New(pub.String(), pub.Hostname())
	// Many passkey providers keep no counter (always 0): then only the spent
	// challenge stops a replay.
	auth.NoCounter = true

	resp, body := passkeyCall(t, a, "/login", `{"username":"alice","password":"password123"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	session := setCookie(t, resp, "session_id")
	resp, opts := passkeyCall(t, a, "/account/passkeys/options", "", session)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("options on A: %d %s", resp.StatusCode, opts)
	}
	cred, err := auth.Register([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := json.Marshal(map[string]any{"name": "Laptop", "credential": json.RawMessage(cred)})
	if resp, body := passkeyCall(t, b, "/account/passkeys", string(reg), session); resp.StatusCode != http.StatusCreated {
		t.Fatalf("registration finished on B: %d %s", resp.StatusCode, body)
	}

	resp, opts = passkeyCall(t, b, "/login/passkey/options", "")
	ticket := setCookie(t, resp, "passkey_login")
	assertion, err := auth.Login([]byte(opts))
	if err != nil {
		t.Fatal(err)
	}
	login, _ := json.Marshal(map[string]any{"credential": json.RawMessage(assertion)})
	got := statuses(t, []*Server{a, b}, 20, func(int) *http.Request {
		req := testenv.Request("POST", "/login/passkey", string(login), "Content-Type", "application/json")
		req.AddCookie(&http.Cookie{Name: ticket.Name, Value: ticket.Value})
		return req
	})
	// The replays are refused as unrecognised (401), and once LOGIN_MAX_FAILURES of
	// them have failed, by the per-client throttle (429).
	if got[http.StatusOK] != 1 || got[http.StatusUnauthorized]+got[http.StatusTooManyRequests] != 19 {
		t.Fatalf("one assertion sent 20 times to two instances: %v, want 1 × 200 and 19 refused", got)
	}
}
