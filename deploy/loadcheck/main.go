// Command loadcheck proves, through the balancer deploy/run-local.sh starts, what
// deploy/test-local.sh promises: a session works on every instance; the failed-login
// throttle counts the real client, not the balancer, and not what a client writes
// in X-Forwarded-For; an instance stopped with SIGTERM under load fails no request;
// a killed one leaves the pool within the health-check interval.
//
// It reads the stack from the environment run-local.sh exports (FRONT_URL,
// STATS_URL, RUN_DIR, DEPLOY_USER, DEPLOY_PASSWORD, LOGIN_MAX_FAILURES).
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadcheck: FAIL:", err)
		os.Exit(1)
	}
}

// stack is what run-local.sh started.
type stack struct {
	front, stats, runDir string
	user, password       string
	maxFailures          int
	out                  io.Writer
}

func run(getenv func(string) string, out io.Writer) error {
	max, err := strconv.Atoi(getenv("LOGIN_MAX_FAILURES"))
	if err != nil {
		return fmt.Errorf("LOGIN_MAX_FAILURES: %w", err)
	}
	s := stack{front: getenv("FRONT_URL"), stats: getenv("STATS_URL"), runDir: getenv("RUN_DIR"),
		user: getenv("DEPLOY_USER"), password: getenv("DEPLOY_PASSWORD"), maxFailures: max, out: out}
	if s.front == "" || s.stats == "" || s.runDir == "" || s.user == "" {
		return errors.New("run me through deploy/run-local.sh (FRONT_URL, STATS_URL, RUN_DIR, DEPLOY_USER are unset)")
	}
	start := time.Now()
	for _, check := range []struct {
		name string
		do   func() error
	}{
		{"a session moves freely between instances", s.sessionMoves},
		{"the failed-login throttle counts the real client", s.throttleCountsRealClient},
		{"SIGTERM to an instance under load fails no request", s.sigtermFailsNothing},
		{"a killed instance leaves the pool within the health-check interval", s.killedLeavesPool},
	} {
		t := time.Now()
		if err := check.do(); err != nil {
			return fmt.Errorf("%s: %w", check.name, err)
		}
		fmt.Fprintf(out, "ok   %s (%s)\n", check.name, time.Since(t).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "loadcheck: all passed in %s\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// clientFrom is an HTTP client whose connections come from the loopback address
// ip (127.0.0.2, 127.0.0.3, ...), so the balancer sees distinct clients.
func clientFrom(ip string) *http.Client {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 64},
		// Never follow: the answers themselves are what is checked.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type answer struct {
	status   int
	servedBy string
	cookie   string // the session cookie it set, if any
	body     string
}

func do(c *http.Client, method, url, body string, header ...string) (answer, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, servedBy: resp.Header.Get("X-Served-By"), body: string(b)}
	// The cookie is Secure (production), which a cookie jar would not send over
	// http: carry it by hand.
	for _, ck := range resp.Cookies() {
		if ck.Name == "session_id" {
			a.cookie = ck.Name + "=" + ck.Value
		}
	}
	return a, nil
}

func (s stack) login(c *http.Client, password string, header ...string) (answer, error) {
	body := fmt.Sprintf(`{"username":%q,"password":%q}`, s.user, password)
	return do(c, "POST", s.front+"/login", body, header...)
}

// sessionMoves logs in once, then sends the session cookie 20 times: every answer
// is the logged-in user, and both instances gave some of them.
func (s stack) sessionMoves() error {
	c := clientFrom("127.0.0.4")
	a, err := s.login(c, s.password)
	if err != nil || a.status != 200 || a.cookie == "" {
		return fmt.Errorf("login: %d %q (cookie %q) %v", a.status, a.body, a.cookie, err)
	}
	by := map[string]int{a.servedBy: 0}
	for range 20 {
		w, err := do(c, "GET", s.front+"/whoami", "", "Cookie", a.cookie)
		if err != nil || w.status != 200 || !strings.Contains(w.body, `"`+s.user+`"`) {
			return fmt.Errorf("GET /whoami with the session (from %s): %d %q %v", w.servedBy, w.status, w.body, err)
		}
		by[w.servedBy]++
	}
	fmt.Fprintf(s.out, "     logged in on %s; /whoami answered by %v\n", a.servedBy, by)
	if by["app1"] == 0 || by["app2"] == 0 {
		return fmt.Errorf("one instance answered every request: %v", by)
	}
	return nil
}

// throttleCountsRealClient fails LOGIN_MAX_FAILURES logins from one client, which
// is then refused even with the right password and with an X-Forwarded-For naming
// someone else, while another client behind the same balancer logs in.
func (s stack) throttleCountsRealClient() error {
	a, b := clientFrom("127.0.0.2"), clientFrom("127.0.0.3")
	for i := range s.maxFailures {
		r, err := s.login(a, "wrong-password")
		if err != nil || r.status != 401 {
			return fmt.Errorf("wrong password %d from 127.0.0.2: %d %q %v", i+1, r.status, r.body, err)
		}
	}
	r, err := s.login(a, s.password)
	if err != nil || r.status != 429 {
		return fmt.Errorf("right password from the blocked 127.0.0.2: %d %q %v, want 429", r.status, r.body, err)
	}
	for _, spoof := range []string{"203.0.113.7", "127.0.0.3", "127.0.0.1, 203.0.113.7"} {
		r, err = s.login(a, s.password, "X-Forwarded-For", spoof)
		if err != nil || r.status != 429 {
			return fmt.Errorf("blocked 127.0.0.2 claiming X-Forwarded-For %q: %d %q %v, want 429", spoof, r.status, r.body, err)
		}
	}
	r, err = s.login(b, s.password)
	if err != nil || r.status != 200 {
		return fmt.Errorf("right password from 127.0.0.3: %d %q %v, want 200 (counted with 127.0.0.2?)", r.status, r.body, err)
	}
	fmt.Fprintf(s.out, "     127.0.0.2 blocked after %d failures (spoofed X-Forwarded-For too); 127.0.0.3 logged in\n", s.maxFailures)
	return nil
}

// load sends GET /whoami with a session from workers goroutines until ctx ends,
// and counts the answers that were not 200.
type load struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	failures     []string
	by           sync.Map // instance -> *atomic.Int64
}

func (s stack) startLoad(ctx context.Context, workers int) (*load, func(), error) {
	c := clientFrom("127.0.0.5")
	a, err := s.login(c, s.password)
	if err != nil || a.status != 200 {
		return nil, nil, fmt.Errorf("login for the load: %d %v", a.status, err)
	}
	l := &load{}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				w, err := do(c, "GET", s.front+"/whoami", "", "Cookie", a.cookie)
				l.sent.Add(1)
				if err != nil || w.status != 200 {
					l.failed.Add(1)
					l.mu.Lock()
					if len(l.failures) < 5 {
						l.failures = append(l.failures, fmt.Sprintf("%d %q %v", w.status, w.body, err))
					}
					l.mu.Unlock()
					continue
				}
				n, _ := l.by.LoadOrStore(w.servedBy, new(atomic.Int64))
				n.(*atomic.Int64).Add(1)
			}
		})
	}
	return l, wg.Wait, nil
}

func (l *load) served(instance string) int64 {
	n, ok := l.by.Load(instance)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// sigtermFailsNothing stops app1 with SIGTERM while 8 clients keep asking, and
// checks that not one of their requests failed.
func (s stack) sigtermFailsNothing() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, wait, err := s.startLoad(ctx, 8)
	if err != nil {
		return err
	}
	time.Sleep(time.Second) // load on both instances before the signal
	pid, err := s.signal("app1", syscall.SIGTERM)
	if err != nil {
		cancel()
		wait()
		return err
	}
	beforeStop := l.sent.Load()
	gone := s.waitExit(pid, 8*time.Second)
	time.Sleep(1500 * time.Millisecond) // and on with one instance
	cancel()
	wait()
	fmt.Fprintf(s.out, "     %d requests (%d after SIGTERM), %d failed; app1 served %d, app2 %d; app1 exited: %v\n",
		l.sent.Load(), l.sent.Load()-beforeStop, l.failed.Load(), l.served("app1"), l.served("app2"), gone)
	switch {
	case l.failed.Load() > 0:
		return fmt.Errorf("%d requests failed, e.g. %v", l.failed.Load(), l.failures)
	case !gone:
		return errors.New("app1 did not exit after SIGTERM")
	case l.served("app1") == 0 || l.served("app2") == 0:
		return errors.New("the load did not reach both instances")
	}
	// The supervisor starts app1 again: wait until the balancer has it back.
	return s.waitState("app1", "UP", 15*time.Second)
}

// killedLeavesPool kills app2 with SIGKILL under load and measures how long the
// balancer takes to mark it DOWN: at most fall × inter (2 × 500 ms in
// haproxy.cfg), plus one check's timeout, is the promise.
func (s stack) killedLeavesPool() error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, wait, err := s.startLoad(ctx, 4)
	if err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := s.signal("app2", syscall.SIGKILL); err != nil {
		cancel()
		wait()
		return err
	}
	killed := time.Now()
	err = s.waitState("app2", "DOWN", 5*time.Second)
	took := time.Since(killed)
	cancel()
	wait()
	if err != nil {
		return err
	}
	const promise = 2*500*time.Millisecond + time.Second // fall 2 × inter 500ms, + timeout connect 1s
	fmt.Fprintf(s.out, "     app2 killed: DOWN in the balancer after %s (promise: within %s); %d of %d requests failed meanwhile (retried elsewhere)\n",
		took.Round(time.Millisecond), promise, l.failed.Load(), l.sent.Load())
	if took > promise {
		return fmt.Errorf("DOWN after %s, more than %s", took, promise)
	}
	return s.waitState("app2", "UP", 15*time.Second)
}

// signal sends sig to the instance's current process (the supervisor writes its pid).
func (s stack) signal(instance string, sig syscall.Signal) (int, error) {
	raw, err := os.ReadFile(s.runDir + "/" + instance + ".pid")
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("%s.pid: %w", instance, err)
	}
	return pid, syscall.Kill(pid, sig)
}

// waitExit reports whether the process is gone within d.
func (s stack) waitExit(pid int, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
	}
	return false
}

// waitState polls the balancer's stats until the instance has the state (UP, DOWN).
func (s stack) waitState(instance, want string, d time.Duration) error {
	var got string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		var err error
		if got, err = s.state(instance); err == nil && strings.HasPrefix(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%s is %q in the balancer after %s, want %s", instance, got, d, want)
}

// state reads the instance's status column from HAProxy's CSV stats.
func (s stack) state(instance string) (string, error) {
	resp, err := http.Get(s.stats)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	r := csv.NewReader(resp.Body)
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) == 0 {
		return "", fmt.Errorf("stats: %v", err)
	}
	col := -1
	for i, name := range rows[0] {
		if name == "status" {
			col = i
		}
	}
	for _, row := range rows[1:] {
		if col >= 0 && len(row) > col && row[0] == "fiberauth" && row[1] == instance {
			return row[col], nil
		}
	}
	return "", fmt.Errorf("stats: no fiberauth/%s", instance)
}
