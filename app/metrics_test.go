package main

import (
	"bufio"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

var metricsAddr = regexp.MustCompile(`msg="metrics listening" addr=(127\.0\.0\.1:\d+)`)

// startWithMetrics runs the service with METRICS_ADDR on a free port and returns the
// app's base URL and the metrics URL.
func startWithMetrics(t *testing.T, env map[string]string) (base, metricsURL string) {
	t.Helper()
	env["METRICS_ADDR"] = "127.0.0.1:0"
	var out testenv.Buffer
	base = startServerTo(t, testEnv(t, env), &out)
	m := metricsAddr.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", out.String())
	}
	return base, "http://" + m[1] + "/metrics"
}

// scrape reads the metrics and returns each sample line's value by its name and labels.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d", resp.StatusCode)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape: bad line %q", line)
		}
		samples[line[:i]] = v
	}
	return samples
}

func send(t *testing.T, method, url, contentType, body string, header ...string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Each kind of attempt moves its own counter, scraped from the metrics listener:
// a failed login the login failure counter, and nothing else's.
func TestMetricsCountAttemptsAndRefusals(t *testing.T) {
	base, metrics := startWithMetrics(t, map[string]string{"DEMO_DATA": "true", "LOGIN_MAX_FAILURES": "2", "RATE_LIMIT_MAX": "30"})
	const (
		wrongBasic = "Basic am9objp3cm9uZ3Bhc3M=" // john:wrongpass
		rightBasic = "Basic am9objpzZWNyZXQxMjM=" // john:secret123
	)
	steps := []struct {
		name       string
		do         func() int
		wantStatus int
		moves      []string // samples that go up by one, exactly
	}{
		{"a failed login", func() int {
			return send(t, "POST", base+"/login", "application/json", `{"username":"jane","password":"wrong-password"}`)
		}, 401, []string{`fiberauth_auth_attempts_total{method="login",outcome="failure"}`,
			`fiberauth_http_requests_total{method="POST",route="/login",status="401"}`}},
		{"a second failed login", func() int {
			return send(t, "POST", base+"/login", "application/json", `{"username":"jane","password":"wrong-password"}`)
		}, 401, []string{`fiberauth_auth_attempts_total{method="login",outcome="failure"}`}},
		{"a throttled login", func() int {
			return send(t, "POST", base+"/login", "application/json", `{"username":"jane","password":"secret456"}`)
		}, 429, []string{`fiberauth_auth_attempts_total{method="login",outcome="throttled"}`,
			`fiberauth_limit_refusals_total{limit="login_throttle"}`}},
		{"a wrong Basic password", func() int { return send(t, "GET", base+"/basic/profile", "", "", "Authorization", wrongBasic) },
			401, []string{`fiberauth_auth_attempts_total{method="basic",outcome="failure"}`}},
		{"a right Basic password", func() int { return send(t, "GET", base+"/basic/profile", "", "", "Authorization", rightBasic) },
			200, []string{`fiberauth_auth_attempts_total{method="basic",outcome="success"}`,
				`fiberauth_cache_lookups_total{cache="credential",result="miss"}`}},
		{"the same Basic password again", func() int { return send(t, "GET", base+"/basic/profile", "", "", "Authorization", rightBasic) },
			200, []string{`fiberauth_auth_attempts_total{method="basic",outcome="success"}`,
				`fiberauth_cache_lookups_total{cache="credential",result="hit"}`}},
		{"an unknown API key", func() int { return send(t, "GET", base+"/apikey/data", "", "", "X-API-Key", "sk_live_nosuchkey") },
			401, []string{`fiberauth_auth_attempts_total{method="api_key",outcome="failure"}`,
				`fiberauth_cache_lookups_total{cache="api_key",result="miss"}`}},
	}
	before := scrape(t, metrics)
	for _, st := range steps {
		if got := st.do(); got != st.wantStatus {
			t.Fatalf("%s: status %d, want %d", st.name, got, st.wantStatus)
		}
		after := scrape(t, metrics)
		for _, name := range st.moves {
			if after[name]-before[name] != 1 {
				t.Errorf("%s: %s went from %v to %v, want one more", st.name, name, before[name], after[name])
			}
		}
		before = after
	}
	if before[`fiberauth_bcrypt_compare_duration_seconds_count`] == 0 {
		t.Error("no bcrypt compare was timed")
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := before[name]; !ok {
			t.Errorf("no %s: the runtime and process collectors are missing", name)
		}
	}

	// The per-client rate limit refuses the 31st API request in its window.
	refusedAt := 0
	for i := 1; i <= 40 && refusedAt == 0; i++ {
		if send(t, "GET", base+"/basic/profile", "", "", "Authorization", rightBasic) == 429 {
			refusedAt = i
		}
	}
	if after := scrape(t, metrics); refusedAt == 0 || after[`fiberauth_limit_refusals_total{limit="rate_limit"}`] != 1 {
		t.Errorf("rate limit: refused at %d, refusals counted %v, want one", refusedAt, after[`fiberauth_limit_refusals_total{limit="rate_limit"}`])
	}
}

// A thousand distinct paths nobody routes make one label value, "unmatched", and
// the hashed static URLs one value, their pattern: a client cannot grow the
// metrics by inventing paths.
func TestMetricsRouteLabelsArePatterns(t *testing.T) {
	base, metrics := startWithMetrics(t, map[string]string{})
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 1000 {
		path := "/no/such/" + strconv.Itoa(i)
		if i%2 == 1 {
			path = "/static/" + strconv.Itoa(i) + "/css/app.css"
		}
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	routes := map[string]float64{}
	for name, v := range scrape(t, metrics) {
		if !strings.HasPrefix(name, "fiberauth_http_requests_total{") {
			continue
		}
		if strings.Contains(name, "/no/such") || regexp.MustCompile(`/static/\d`).MatchString(name) {
			t.Errorf("a raw path became a label: %s", name)
		}
		route := regexp.MustCompile(`route="([^"]*)"`).FindStringSubmatch(name)[1]
		routes[route] += v
	}
	if routes["unmatched"] != 500 || routes["/static/:hash/*"] != 500 {
		t.Errorf("requests by route = %v, want 500 unmatched and 500 /static/:hash/*", routes)
	}
	if len(routes) > 3 { // the two, and /healthz from start-up
		t.Errorf("%d route label values, want at most 3: %v", len(routes), routes)
	}
}
