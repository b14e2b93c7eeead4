// Package metrics measures the service for Prometheus, on a registry of its own
// (never the library's global one) served by a listener of its own (METRICS_ADDR),
// so that the metrics are not reachable through the public port.
//
// It implements web.Observer and auth.Observer; those packages know nothing of
// Prometheus. Every label value comes from a fixed, small set: route patterns
// (never raw paths), methods, statuses, and the names the observers use.
package metrics

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "fiberauth"

// Metrics holds the service's collectors and the registry they are in.
type Metrics struct {
	registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authAttempts *prometheus.CounterVec
	refusals     *prometheus.CounterVec
	cacheLookups *prometheus.CounterVec
	bcrypt       prometheus.Histogram
}

// New returns the service's metrics on a fresh registry, with the Go runtime and
// process collectors in it.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when no route matched), method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method", "status"}),
		authAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "auth_attempts_total",
			Help: "Authentication attempts, by method (basic, api_key, session, login) and outcome (success, failure, throttled, disabled, error).",
		}, []string{"method", "outcome"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "limit_refusals_total",
			Help: "Requests refused by a limit: rate_limit (requests per client) or login_throttle (failed logins per username and client).",
		}, []string{"limit"}),
		cacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "cache_lookups_total",
			Help: "Lookups in this instance's credential caches, by cache (credential, api_key) and result (hit, miss).",
		}, []string{"cache", "result"}),
		bcrypt: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "bcrypt_compare_duration_seconds",
			Help:    "Time of one bcrypt compare (a wrong password against a cheaper hash is padded with more of them).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 12), // 1 ms to 2 s: cost 4 to cost 14 and more
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.latency, m.authAttempts, m.refusals, m.cacheLookups, m.bcrypt,
	)
	return m
}

// Registry is where the metrics are, for tests and for more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// GaugeFunc adds a gauge whose value f reads at each scrape: the hook for what is
// measured by asking (the outbox depth: `GaugeFunc("mail_outbox_depth", "...", f)`).
// f runs on the scrape's goroutine, so it must be quick and safe for concurrent use.
// The name gets the fiberauth_ prefix; a name already taken is an error.
func (m *Metrics) GaugeFunc(name, help string, f func() float64) error {
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Name: name, Help: help}, f)
	if err := m.registry.Register(g); err != nil {
		return fmt.Errorf("metrics: gauge %s: %w", name, err)
	}
	return nil
}

// Request counts one answered HTTP request (web.Observer).
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(route, method, code).Inc()
	m.latency.WithLabelValues(route, method, code).Observe(took.Seconds())
}

// AuthAttempt counts one authentication attempt (web.Observer).
func (m *Metrics) AuthAttempt(method, outcome string) {
	m.authAttempts.WithLabelValues(method, outcome).Inc()
}

// Refused counts one request refused by a limit (web.Observer).
func (m *Metrics) Refused(limit string) { m.refusals.WithLabelValues(limit).Inc() }

// CacheLookup counts one cache lookup (auth.Observer).
func (m *Metrics) CacheLookup(cache string, hit bool) {
	result := "miss"
	if hit {
		result = "hit"
	}
	m.cacheLookups.WithLabelValues(cache, result).Inc()
}

// PasswordCompared records one bcrypt compare's time (auth.Observer).
func (m *Metrics) PasswordCompared(took time.Duration) { m.bcrypt.Observe(took.Seconds()) }
