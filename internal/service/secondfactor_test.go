package service

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"fiberauth/internal/sessions"
	"fiberauth/internal/testenv"
)

// TestSecondFactorAcrossInstances: a login's password step on one instance and
// its code on the other (the pending login is shared state); a code accepted on
// one is refused on the other, even sent to both at once; and Basic is refused on
// the instance that did not see the enrolment.
func TestSecondFactorAcrossInstances(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	a, b := twoInstances(t, testenv.RedisURL(t), map[string]string{"SECRETS_KEY": base64.StdEncoding.EncodeToString(key),
		"RATE_LIMIT_MAX": "1000"})
	do := func(s *Server, req *http.Request, cookies ...*http.Cookie) (*http.Response, string) {
		t.Helper()
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := s.App.Test(req, -1)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var buf [4096]byte
		n, _ := resp.Body.Read(buf[:])
		return resp, string(buf[:n])
	}
	cookieOf := func(resp *http.Response, name string) *http.Cookie {
		for _, c := range resp.Cookies() {
			if c.Name == name {
				return c
			}
		}
		t.Fatalf("no %s cookie", name)
		return nil
	}
	jsonReq := func(path, body string) *http.Request {
		return testenv.Request("POST", path, body, "Content-Type", "application/json")
	}

	// Basic on b before the enrolment: cached there.
	if resp, _ := do(b, testenv.Request("GET", "/basic/profile", "", "Authorization", basicHeader("alice", "password123"))); resp.StatusCode != 200 {
		t.Fatalf("basic before: %d", resp.StatusCode)
	}
	resp, body := do(a, loginRequest("alice", "password123"))
	session := cookieOf(resp, sessions.CookieName)
	resp, body = do(a, jsonReq("/account/totp", `{}`), session)
	var e struct{ Secret string }
	if resp.StatusCode != 200 || json.Unmarshal([]byte(body), &e) != nil {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(e.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// The previous step's code (inside the skew), so that the current one is later.
	if resp, body = do(a, jsonReq("/account/totp/confirm", `{"code":"`+code(time.Now().Add(-30*time.Second))+`"}`), session); resp.StatusCode != 200 {
		t.Fatalf("confirm: %d %s", resp.StatusCode, body)
	}
	t.Run("Basic is refused on the other instance at once", func(t *testing.T) {
		resp, _ := do(b, testenv.Request("GET", "/basic/profile", "", "Authorization", basicHeader("alice", "password123")))
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%d", resp.StatusCode)
		}
	})
	t.Run("the password on one instance, the code on the other", func(t *testing.T) {
		resp, body := do(b, loginRequest("alice", "password123"))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("password step: %d %s", resp.StatusCode, body)
		}
		pending := cookieOf(resp, "login_pending")
		resp, body = do(a, jsonReq("/login/verify", `{"code":"`+code(time.Now())+`"}`), pending)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("code step: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("one code sent to both instances at once passes once", func(t *testing.T) {
		var pendings [2]*http.Cookie
		for i := range pendings {
			resp, _ := do([]*Server{a, b}[i], loginRequest("alice", "password123"))
			pendings[i] = cookieOf(resp, "login_pending")
		}
		next := code(time.Now().Add(30 * time.Second)) // a step not used yet, inside the skew
		got := testenv.Statuses(t, 2, func(i int) (*http.Response, error) {
			req := jsonReq("/login/verify", `{"code":"`+next+`"}`)
			req.AddCookie(pendings[i])
			return []*Server{a, b}[i].App.Test(req, -1)
		})
		if got[200] != 1 || got[401] != 1 {
			t.Fatalf("statuses %v, want one 200 and one 401", got)
		}
	})
}

func basicHeader(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}
