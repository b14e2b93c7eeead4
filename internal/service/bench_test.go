package service_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
	"golang.org/x/crypto/bcrypt"

	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/service"
	"fiberauth/internal/sessions"
	"fiberauth/internal/shared"
)

// benchParallelism is how many client goroutines run per GOMAXPROCS: enough
// connections in flight to keep a 2-core server busy while the client waits on
// the network, few enough that the run measures work rather than scheduling.
const benchParallelism = 8

// loginParallelism is the client goroutines per GOMAXPROCS for POST /login: two
// keep every core on bcrypt while another login is being answered, and stay under
// LOGIN_MAX_FAILURES, the logins of one user from one address that may be in flight
// at once (each could be a guess until bcrypt says otherwise).
const loginParallelism = 2

// Each case is measured in benchRounds slices of benchSlice, each right after a
// slice of the baseline, and its ratio is taken over those pairs: a machine whose
// load changes during the run (other processes on the same cores) then shifts both
// sides of the ratio alike instead of whichever case happened to run at the time.
const (
	benchRounds = 8
	benchSlice  = 250 * time.Millisecond
)

// Logins take a quarter of a second of bcrypt each, so their slices are longer: each
// of the 4 workers finishes three or four in one.
const (
	loginRounds = 3
	loginSlice  = 1500 * time.Millisecond
)

// benchCase is one kind of request the benchmark repeats.
type benchCase struct {
	name   string
	method string
	path   string
	header map[string]string
	body   string
	// warmup runs before the clock starts: it checks the answer and brings the
	// server into the steady state being measured (a cached credential, a tripped
	// failed-login throttle).
	warmup []int
	want   int // the status every timed request must get
	// vary, when set, changes the request before each send (e.g. a new made-up key).
	vary func(req *fasthttp.Request)
	// ceiling, when set, is the same request to the bare Fiber handler
	// (startCeilingServer), measured in the same rounds: the framework's ceiling.
	ceiling *benchCase
	// client sends the case; nil: the application's.
	client *fasthttp.HostClient
}

// BenchmarkAuth starts the real application (service.New, as `run` does) on a
// loopback listener with production-like settings and drives each route with
// keep-alive connections from benchParallelism×GOMAXPROCS goroutines. Each case
// reports req/s, the baseline's req/s in the slices interleaved with it, their
// ratio, and allocations and bytes per request; login reports its ratio to the
// bcrypt bound instead, both as the issue defines it (GOMAXPROCS ÷ one compare) and
// as measured with every core comparing, interleaved with the logins.
//
// The client is fasthttp's: it shares the cores with the server, and a light
// client keeps the ratios about the server's work rather than the client's.
// allocs/req and B/req count the whole process, both sides of the connection (the
// client allocates next to nothing); ns/op is the length of one measurement and
// means nothing.
func BenchmarkAuth(b *testing.B) {
	cfg, addr := startBenchServer(b)
	client := &fasthttp.HostClient{
		Addr:     addr,
		MaxConns: benchParallelism * runtime.GOMAXPROCS(0),
	}

	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	aliceSession := loginCookie(b, client)
	ceilingClient := &fasthttp.HostClient{Addr: startCeilingServer(b), MaxConns: client.MaxConns}
	johnToken := accessToken(b, client)

	// The wrong password is bob's, so that throttling him leaves john (the valid
	// Basic case) alone: the throttle counts per username and client IP.
	tripThrottle := make([]int, cfg.LoginMaxFailures+1)
	for i := range cfg.LoginMaxFailures {
		tripThrottle[i] = fiber.StatusUnauthorized
	}
	tripThrottle[cfg.LoginMaxFailures] = fiber.StatusTooManyRequests

	baseline := benchCase{name: "baseline", method: "GET", path: "/healthz", want: 200}
	cases := []benchCase{
		baseline,
		{name: "apikey_valid", method: "GET", path: "/apikey/data",
			header: map[string]string{"Authorization": "Bearer sk_test_123"}, want: 200,
			ceiling: &benchCase{name: "ceiling", method: "GET", path: "/apikey/data", client: ceilingClient,
				header: map[string]string{"Authorization": "Bearer sk_test_123"}, want: 200}},
		{name: "basic_repeated", method: "GET", path: "/basic/profile",
			header: map[string]string{"Authorization": basic("john", "secret123")}, warmup: []int{200}, want: 200},
		{name: "session", method: "GET", path: "/dashboard",
			header: map[string]string{"Cookie": sessions.CookieName + "=" + aliceSession}, want: 200},
		{name: "token_valid", method: "GET", path: "/users/me",
			header: map[string]string{"Authorization": "Bearer " + johnToken}, want: 200},
		{name: "apikey_unknown", method: "GET", path: "/apikey/data",
			header: map[string]string{"Authorization": "Bearer sk_live_UNKNOWNKEYUNKNOWNKEYUNKNOWN"}, want: 401},
		// Not a target: a different made-up key every time defeats any cache, so this
		// is the cost of the miss path (one indexed query), which RATE_LIMIT_MAX bounds
		// per client.
		{name: "apikey_unknown_distinct", method: "GET", path: "/apikey/data", want: 401,
			vary: func() func(*fasthttp.Request) {
				var n atomic.Uint64
				return func(req *fasthttp.Request) {
					req.Header.Set("Authorization", "Bearer sk_live_madeup"+strconv.FormatUint(n.Add(1), 36))
				}
			}()},
		{name: "basic_wrong_password", method: "GET", path: "/basic/profile",
			header: map[string]string{"Authorization": basic("bob", "wrong-password")}, warmup: tripThrottle, want: 429},
	}

	workers := benchParallelism * runtime.GOMAXPROCS(0)
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() { // once: the measurement times itself
				for _, status := range bc.warmup {
					if got := send(b, client, bc); got != status {
						b.Fatalf("warm-up: got %d, want %d", got, status)
					}
				}
				var base, this, ceiling slice
				for range benchRounds {
					base.add(runSlice(b, client, baseline, workers, benchSlice))
					this.add(runSlice(b, client, bc, workers, benchSlice))
					if bc.ceiling != nil {
						ceiling.add(runSlice(b, client, *bc.ceiling, workers, benchSlice))
					}
				}
				b.ReportMetric(this.rate(), "req/s")
				b.ReportMetric(base.rate(), "base_req/s")
				b.ReportMetric(this.rate()/base.rate(), "ratio")
				if bc.ceiling != nil {
					b.ReportMetric(ceiling.rate(), "ceiling_req/s")
					b.ReportMetric(this.rate()/ceiling.rate(), "ratio_to_ceiling")
				}
				if bc.name != baseline.name && bc.want == fiber.StatusOK {
					// Tail latency at half of what each saturates at, open loop (latency
					// from when a request was due, so a stall counts for every request
					// queued behind it).
					// Interleaved rounds, each side's median p99: like the ratios, so a
					// burst of load from another process does not land on one side only.
					var p99s, baseP99s []time.Duration
					for range latencyRounds {
						baseP99s = append(baseP99s, latencyAtRate(b, client, baseline, base.rate()/2, latencySpan))
						p99s = append(p99s, latencyAtRate(b, client, bc, this.rate()/2, latencySpan))
					}
					p99, baseP99 := median(p99s), median(baseP99s)
					b.ReportMetric(float64(p99.Microseconds()), "p99_µs")
					b.ReportMetric(float64(baseP99.Microseconds()), "base_p99_µs")
					b.ReportMetric(float64(p99)/float64(baseP99), "p99_ratio")
				}
				b.ReportMetric(float64(this.mallocs)/float64(this.requests), "allocs/req")
				b.ReportMetric(float64(this.bytes)/float64(this.requests), "B/req")
			}
		})
	}

	b.Run("login", func(b *testing.B) {
		hash, err := bcrypt.GenerateFromPassword([]byte("password123"), cfg.BcryptCost)
		if err != nil {
			b.Fatal(err)
		}
		compare := func() { _ = bcrypt.CompareHashAndPassword(hash, []byte("password123")) }
		login := benchCase{method: "POST", path: "/login",
			header: map[string]string{"Content-Type": "application/json"},
			body:   `{"username":"alice","password":"password123"}`, want: 200}
		procs := runtime.GOMAXPROCS(0)
		for b.Loop() { // once: the measurement times itself
			// Rounds of: one compare alone (the bound as the issue defines it:
			// GOMAXPROCS ÷ one compare), every core comparing at once (the same bound as
			// the machine can deliver right now, which other processes' load lowers),
			// and a slice of logins.
			var one time.Duration
			var parallel, logins slice
			for range loginRounds {
				start := time.Now()
				compare()
				one += time.Since(start)
				parallel.add(parallelCompares(procs, compare))
				logins.add(runSlice(b, client, login, loginParallelism*procs, loginSlice))
			}
			bound := float64(procs) / (one / loginRounds).Seconds()
			b.ReportMetric(logins.rate(), "req/s")
			b.ReportMetric(bound, "bound_req/s")
			b.ReportMetric(logins.rate()/bound, "ratio_to_bound")
			b.ReportMetric(logins.rate()/parallel.rate(), "ratio_to_parallel")
			b.ReportMetric(float64(logins.mallocs)/float64(logins.requests), "allocs/req")
			b.ReportMetric(float64(logins.bytes)/float64(logins.requests), "B/req")
		}
	})
}

// parallelCompares runs two compares on each of procs goroutines at once.
func parallelCompares(procs int, compare func()) slice {
	start := time.Now()
	var wg sync.WaitGroup
	for range procs {
		wg.Go(func() { compare(); compare() })
	}
	wg.Wait()
	return slice{requests: uint64(2 * procs), elapsed: time.Since(start)}
}

// slice is what one or more timed slices of requests did.
type slice struct {
	requests, mallocs, bytes uint64
	elapsed                  time.Duration
}

func (s *slice) add(o slice) {
	s.requests += o.requests
	s.mallocs += o.mallocs
	s.bytes += o.bytes
	s.elapsed += o.elapsed
}

func (s slice) rate() float64 { return float64(s.requests) / s.elapsed.Seconds() }

// runSlice sends bc from workers goroutines for d; every answer must have the
// wanted status.
func runSlice(b *testing.B, client *fasthttp.HostClient, bc benchCase, workers int, d time.Duration) slice {
	b.Helper()
	if bc.client != nil {
		client = bc.client
	}
	var requests, wrong, lastWrong atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range workers {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			build(req, client.Addr, bc)
			for !stop.Load() {
				if bc.vary != nil {
					bc.vary(req)
				}
				if err := client.Do(req, resp); err != nil {
					wrong.Add(1)
				} else if code := resp.StatusCode(); code != bc.want {
					wrong.Add(1)
					lastWrong.Store(int64(code))
				}
				requests.Add(1)
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if n := wrong.Load(); n > 0 {
		b.Errorf("%s: %d of %d requests did not get %d (last: %d)", bc.path, n, requests.Load(), bc.want, lastWrong.Load())
	}
	return slice{requests: uint64(requests.Load()), elapsed: elapsed,
		mallocs: after.Mallocs - before.Mallocs, bytes: after.TotalAlloc - before.TotalAlloc}
}

// Tail latency is measured in latencyRounds pairs of latencySpan each.
const (
	latencyRounds = 5
	latencySpan   = 500 * time.Millisecond
)

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// latencyAtRate sends bc at rate requests per second for d, open loop (request i
// is due at start + i/rate, whatever happened to the ones before), and returns
// the 99th percentile of the time from when each request was due to its answer.
func latencyAtRate(b *testing.B, client *fasthttp.HostClient, bc benchCase, rate float64, d time.Duration) time.Duration {
	b.Helper()
	if bc.client != nil {
		client = bc.client
	}
	total := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	latencies := make([]time.Duration, total)
	var next atomic.Int64
	var wrong atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range benchParallelism * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			build(req, client.Addr, bc)
			for {
				i := int(next.Add(1) - 1)
				if i >= total {
					return
				}
				due := start.Add(time.Duration(i) * interval)
				time.Sleep(time.Until(due))
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != bc.want {
					wrong.Add(1)
				}
				latencies[i] = time.Since(due)
			}
		})
	}
	wg.Wait()
	if n := wrong.Load(); n > 0 {
		b.Errorf("%s: %d of %d requests at %.0f/s did not get %d", bc.path, n, total, rate, bc.want)
	}
	slices.Sort(latencies)
	return latencies[len(latencies)*99/100]
}

// startCeilingServer serves the framework's ceiling for an API-key request: a bare
// Fiber app (no middleware at all) whose handler looks the key up in a map and
// answers the same JSON as GET /apikey/data. What the real route costs above it is
// ours: authentication, the limiter, headers, logging, recovery.
func startCeilingServer(b *testing.B) string {
	b.Helper()
	keys := map[string]bool{"sk_test_123": true}
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/apikey/data", func(c *fiber.Ctx) error {
		key, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if !ok || !keys[key] {
			return c.Status(fiber.StatusUnauthorized).JSON(fiber.Map{"detail": "Invalid API Key"})
		}
		return c.JSON(fiber.Map{"data": []string{"item1", "item2"}})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	b.Cleanup(func() {
		_ = app.ShutdownWithTimeout(5 * time.Second)
		<-served
	})
	return ln.Addr().String()
}

// send sends one request outside the timed region and returns its status.
func send(b *testing.B, client *fasthttp.HostClient, bc benchCase) int {
	b.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	build(req, client.Addr, bc)
	if err := client.Do(req, resp); err != nil {
		b.Fatalf("%s %s: %v", bc.method, bc.path, err)
	}
	return resp.StatusCode()
}

func build(req *fasthttp.Request, addr string, bc benchCase) {
	req.Header.SetMethod(bc.method)
	req.SetRequestURI("http://" + addr + bc.path)
	for k, v := range bc.header {
		req.Header.Set(k, v)
	}
	if bc.body != "" {
		req.SetBodyString(bc.body)
	}
}

// loginCookie logs alice in and returns her session ID.
func loginCookie(b *testing.B, client *fasthttp.HostClient) string {
	b.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	build(req, client.Addr, benchCase{method: "POST", path: "/login",
		header: map[string]string{"Content-Type": "application/json"},
		body:   `{"username":"alice","password":"password123"}`})
	if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("login: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	var id string
	resp.Header.VisitAllCookie(func(key, value []byte) {
		c := fasthttp.AcquireCookie()
		defer fasthttp.ReleaseCookie(c)
		if c.ParseBytes(value) == nil && string(c.Key()) == sessions.CookieName {
			id = string(c.Value())
		}
	})
	if id == "" {
		b.Fatal("login set no session cookie")
	}
	return id
}

// accessToken runs the password grant for john and returns the access token.
func accessToken(b *testing.B, client *fasthttp.HostClient) string {
	b.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	build(req, client.Addr, benchCase{method: "POST", path: "/token",
		header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		body:   "grant_type=password&username=john&password=secret123"})
	if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
		b.Fatalf("token: %v %d %s", err, resp.StatusCode(), resp.Body())
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(resp.Body(), &tr); err != nil || tr.AccessToken == "" {
		b.Fatalf("token answer %s: %v", resp.Body(), err)
	}
	return tr.AccessToken
}

// startBenchServer builds the app as production does (service.New) with
// BCRYPT_COST=12 and the demo data, and serves it on a loopback port. The API rate
// limit is raised out of the way but still runs (and writes its counter) on every
// API request; failed-login throttling keeps its production defaults. The access
// log is discarded: formatting it costs the same on every route, so it would only
// pull every ratio towards 1.
func startBenchServer(b *testing.B) (config.Config, string) {
	b.Helper()
	vars := map[string]string{
		"APP_ENV":        "test",
		"BCRYPT_COST":    "12",
		"DEMO_DATA":      "true",
		"DATABASE_URL":   filepath.Join(b.TempDir(), "bench.db"),
		"RATE_LIMIT_MAX": strconv.Itoa(1 << 30),
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, "")
	if err != nil {
		b.Fatal(err)
	}
	srv, err := service.New(b.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.App.Listener(ln) }()
	b.Cleanup(func() {
		if err := srv.App.ShutdownWithTimeout(5 * time.Second); err != nil {
			b.Error(err)
		}
		<-served
		srv.Close()
	})
	return cfg, ln.Addr().String()
}

// BenchmarkIdleSessionMemory reports the heap an idle logged-in session holds in
// the in-process memory storage: the heap grown by idleSessions logins, divided by
// their number. Each session belongs to its own user, so the per-user index entry
// is counted too.
func BenchmarkIdleSessionMemory(b *testing.B) {
	const idleSessions = 100_000
	var perSession float64
	for b.Loop() {
		perSession = idleSessionBytes(b, idleSessions)
	}
	b.ReportMetric(perSession, "B/session")
}

func idleSessionBytes(b *testing.B, n int) float64 {
	b.Helper()
	storage := shared.NewMemory(nil)
	defer storage.Close()
	m := sessions.NewManager(storage, noEndedAccess{}, sessions.Config{IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 24 * time.Hour})
	app := fiber.New()

	before := heapInUse()
	for i := range n {
		fctx := &fasthttp.RequestCtx{}
		c := app.AcquireCtx(fctx)
		p := auth.Principal{UserID: int64(i + 1), Username: fmt.Sprintf("user%06d", i), Role: "user", Method: auth.MethodSession}
		if _, err := m.Start(c, p, sessions.Login{Method: "password"}); err != nil {
			b.Fatal(err)
		}
		app.ReleaseCtx(c)
	}
	after := heapInUse()
	runtime.KeepAlive(m)
	runtime.KeepAlive(storage)
	return float64(after-before) / float64(n)
}

// noEndedAccess says no user's access has ever ended.
type noEndedAccess struct{}

func (noEndedAccess) AccessGeneration(context.Context, int64) (int64, error) { return 0, nil }

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
