package web

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"fiberauth/internal/sessions"
	"fiberauth/internal/testenv"
)

// Regression tests for what an attacker (and an operator) found in issue 8, on
// one instance. The cross-instance ones are in internal/service.

// A failed login with a huge username leaves only keys and values of a small,
// fixed size behind: every key built from client input is hashed first.
func TestClientInputNeverSizesStoredKeys(t *testing.T) {
	a := newTestApp(t, nil)
	huge := strings.Repeat("u", 900_000)
	for _, req := range []*http.Request{
		jsonRequest("POST", "/login", `{"username":"`+huge+`","password":"wrong-password"}`),
		request("GET", "/basic/profile", "", "Authorization", basicAuth(huge[:8000], "wrong-password")),
	} {
		if resp, body := a.do(t, req); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, resp.StatusCode, body)
		}
	}
	keys, err := a.shared.Keys()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, k := range keys {
		v, _ := a.shared.Get(string(k))
		if len(k) > 100 {
			t.Errorf("a stored key of %d bytes: %.60q...", len(k), k)
		}
		total += len(k) + len(v)
	}
	if total > 2000 {
		t.Errorf("two failed logins keep %d bytes in the storage", total)
	}
}

// Logins that verified the old password while it was being changed have no live
// session once the change has returned: nothing granted before it works after.
func TestPasswordChangeEndsLoginsRacingIt(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "1000", "RATE_LIMIT_MAX": "100000"})
	changer := a.client()
	changer.login(t, "alice", "password123")

	var (
		mu      sync.Mutex
		cookies []string
		stop    atomic.Bool
		wg      sync.WaitGroup
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				resp, err := a.app.Test(jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`), -1)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if c := cookie(resp, sessions.CookieName); resp.StatusCode == http.StatusOK && c != nil {
					mu.Lock()
					cookies = append(cookies, c.Value)
					mu.Unlock()
				}
			}
		}()
	}
	resp, body := changer.do(t, jsonRequest("POST", "/account/password",
		`{"current_password":"password123","new_password":"another-pass-1"}`))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("password change: %d %s", resp.StatusCode, body)
	}
	stop.Store(true)
	wg.Wait()
	if len(cookies) == 0 {
		t.Fatal("no login with the old password succeeded: the test raced nothing")
	}
	alive := 0
	for _, id := range cookies {
		req := request("GET", "/dashboard", "")
		req.AddCookie(&http.Cookie{Name: sessions.CookieName, Value: id})
		if resp, _ := a.do(t, req); resp.StatusCode != http.StatusUnauthorized {
			alive++
		}
	}
	if alive > 0 {
		t.Fatalf("%d of %d sessions made with the old password are alive after the change", alive, len(cookies))
	}
	if resp, _ := changer.do(t, request("GET", "/dashboard", "")); resp.StatusCode != http.StatusOK {
		t.Errorf("the session that changed the password ended: %d", resp.StatusCode)
	}
}

// A user's own correct logins are never refused as failures, however many run at
// once; wrong ones at once get exactly LOGIN_MAX_FAILURES checks.
func TestParallelLoginsThrottleOnlyFailures(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		want     map[int]int
	}{
		{"50 correct logins all succeed", "password123", map[int]int{200: 50}},
		{"50 wrong logins get 5 checks", "wrong-password", map[int]int{401: 5, 429: 45}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "1000"})
			got := testenv.Statuses(t, 50, func(int) (*http.Response, error) {
				return a.app.Test(jsonRequest("POST", "/login", `{"username":"alice","password":"`+tc.password+`"}`), -1)
			})
			if len(got) != len(tc.want) {
				t.Fatalf("statuses %v, want %v", got, tc.want)
			}
			for status, n := range tc.want {
				if got[status] != n {
					t.Fatalf("statuses %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// Sign-ups that find a name taken are counted like failed logins, per client, so
// /register cannot be used to list the users; successful ones are not.
func TestRegisterIsThrottledLikeALogin(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "3"})
	register := func(name string) int {
		resp, _ := a.do(t, jsonRequest("POST", "/register", `{"username":"`+name+`","password":"long-enough-1"}`))
		return resp.StatusCode
	}
	for i := range 5 {
		if got := register("newcomer" + strconv.Itoa(i)); got != http.StatusCreated {
			t.Fatalf("sign-up %d: %d", i, got)
		}
	}
	for i, name := range []string{"alice", "bob", "john"} {
		if got := register(name); got != http.StatusConflict {
			t.Fatalf("taken name %d: %d, want 409", i, got)
		}
	}
	if got := register("admin"); got != http.StatusTooManyRequests {
		t.Fatalf("4th taken-name probe: %d, want 429", got)
	}
}

// What a logged-in user can create, they can create only so fast.
func TestKeyWritesAreRateLimited(t *testing.T) {
	a := newTestApp(t, map[string]string{"RATE_LIMIT_MAX": "3"})
	c := a.client()
	c.login(t, "alice", "password123") // counts once (POST /login is limited too)
	for i := range 2 {
		if resp, body := c.do(t, jsonRequest("POST", "/keys", `{"name":"k`+strconv.Itoa(i)+`","permissions":["read"]}`)); resp.StatusCode != http.StatusCreated {
			t.Fatalf("key %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := c.do(t, jsonRequest("POST", "/keys", `{"name":"k3","permissions":["read"]}`))
	if e := envelope(t, body); resp.StatusCode != http.StatusTooManyRequests || e.Type != "rate_limit_error" {
		t.Fatalf("3rd key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.do(t, request("DELETE", "/keys/1", "")); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("revoking beyond the limit: %d", resp.StatusCode)
	}
}

// One host with an IPv6 /64 has 2^64 addresses: the failed-login throttle counts
// the /64, as the rate limit does.
func TestFailedLoginThrottleGroupsIPv6By64(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "2", "TRUSTED_PROXIES": "0.0.0.0/32"})
	try := func(from string) int {
		req := jsonRequest("POST", "/login", `{"username":"alice","password":"wrong-password"}`)
		req.Header.Set("X-Forwarded-For", from)
		resp, _ := a.do(t, req)
		return resp.StatusCode
	}
	for i, from := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2"} {
		if got := try(from); got != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, got)
		}
	}
	if got := try("2001:db8:1:2:ffff::9"); got != http.StatusTooManyRequests {
		t.Errorf("a third address in the same /64: %d, want 429", got)
	}
	if got := try("2001:db8:1:3::1"); got != http.StatusUnauthorized {
		t.Errorf("another /64: %d, want 401", got)
	}
}

// The throttle and the Basic check read one header the same way: a scheme in any
// case and any number of spaces before the credentials (RFC 7235).
func TestBasicHeaderSpellings(t *testing.T) {
	a := newTestApp(t, nil)
	creds := strings.TrimPrefix(basicAuth("john", "secret123"), "Basic ")
	for _, header := range []string{"Basic " + creds, "basic " + creds, "BASIC " + creds, "Basic  " + creds, "Basic   " + creds + " "} {
		if resp, body := a.do(t, request("GET", "/basic/profile", "", "Authorization", header)); resp.StatusCode != http.StatusOK {
			t.Errorf("%q: %d %s", header, resp.StatusCode, body)
		}
	}
}
