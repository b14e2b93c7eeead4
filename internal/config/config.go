// Package config reads the service's settings from environment variables and an
// optional .env file, and refuses to start on any value it cannot trust.
//
// Checking everything here, once, means the rest of the program can use a Config
// without re-validating it, and a bad deployment fails at start-up with a message
// naming the variable instead of misbehaving later.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/joho/godotenv"
)

// The values APP_ENV may take.
const (
	envDevelopment = "development"
	envProduction  = "production"
	envTest        = "test"
)

// Bounds past which a value is a mistake (see Load; the README's configuration
// table gives them too).
const (
	maxLimitWindow     = 24 * time.Hour      // RATE_LIMIT_WINDOW, LOGIN_FAILURE_WINDOW
	maxSessionAbsolute = 30 * 24 * time.Hour // SESSION_ABSOLUTE_TIMEOUT
	maxRateLimit       = 1_000_000           // RATE_LIMIT_MAX, in production
	maxLoginFailures   = 1_000               // LOGIN_MAX_FAILURES, in production
	minSessionIdle     = time.Minute         // SESSION_IDLE_TIMEOUT, in production
	minProxyBits4      = 8                   // TRUSTED_PROXIES, IPv4, in production
	minProxyBits6      = 16                  // TRUSTED_PROXIES, IPv6, in production
	minAuditRetention  = time.Hour           // AUDIT_RETENTION
	maxAccessTokenTTL  = 24 * time.Hour      // ACCESS_TOKEN_TTL
	maxRefreshTokenTTL = 365 * 24 * time.Hour
	minJWTSecret       = 32 // bytes, JWT_SECRET (RFC 7518 §3.2: at least the hash size)
	secretsKeySize     = 32 // bytes, SECRETS_KEY (AES-256)
)

// DefaultPublicURL is PUBLIC_URL outside production.
const DefaultPublicURL = "http://localhost:3000"

// Config is the validated configuration. The env tags drive caarlos0/env; fields
// without an envDefault get their default in Load because it depends on APP_ENV.
type Config struct {
	Env                    string        `env:"APP_ENV" envDefault:"development"`
	Addr                   string        `env:"ADDR" envDefault:":3000"`
	DatabaseURL            string        `env:"DATABASE_URL" envDefault:"data/fiberauth.db"`
	RedisURL               string        `env:"REDIS_URL"`
	DemoData               bool          `env:"DEMO_DATA"`          // default depends on APP_ENV
	AllowRegistration      bool          `env:"ALLOW_REGISTRATION"` // default depends on APP_ENV
	BcryptCost             int           `env:"BCRYPT_COST" envDefault:"12"`
	SessionIdleTimeout     time.Duration `env:"SESSION_IDLE_TIMEOUT" envDefault:"30m"`
	SessionAbsoluteTimeout time.Duration `env:"SESSION_ABSOLUTE_TIMEOUT" envDefault:"24h"`
	RateLimitMax           int           `env:"RATE_LIMIT_MAX" envDefault:"100"`
	RateLimitWindow        time.Duration `env:"RATE_LIMIT_WINDOW" envDefault:"15m"`
	LoginMaxFailures       int           `env:"LOGIN_MAX_FAILURES" envDefault:"5"`
	LoginFailureWindow     time.Duration `env:"LOGIN_FAILURE_WINDOW" envDefault:"15m"`
	CORSAllowOrigins       []string      `env:"CORS_ALLOW_ORIGINS"` // normalised to scheme://host[:port]
	TrustedProxies         []string      `env:"TRUSTED_PROXIES"`
	LogLevel               slog.Level    `env:"-"`          // LOG_LEVEL, parsed in Load: slog's UnmarshalText also takes "info+2"
	LogFormat              string        `env:"LOG_FORMAT"` // default depends on APP_ENV
	BodyLimit              int           `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	ShutdownTimeout        time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	AuditRetention         time.Duration `env:"AUDIT_RETENTION" envDefault:"2160h"` // 90 days

	// Beyond the password (design.md, "Configuration added").
	PublicURL       string        `env:"PUBLIC_URL"` // the site's origin, scheme://host[:port]; default depends on APP_ENV
	SecretsKey      []byte        `env:"-"`          // SECRETS_KEY, 32 bytes from base64; nil: the service makes one (never in production)
	JWTAlgorithm    string        `env:"JWT_ALGORITHM" envDefault:"EdDSA"`
	JWTSecret       []byte        `env:"-"`                                 // JWT_SECRET, HS256 only
	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"30m"` // the article's 30 minutes
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h"`
	SMTPURL         string        `env:"SMTP_URL"` // smtp:// or smtps://; empty: mail stays in the outbox
	MailFrom        string        `env:"MAIL_FROM"`
	MetricsAddr     string        `env:"METRICS_ADDR"` // host:port of the Prometheus listener; empty: off
}

// Production reports whether the strict production rules apply (Secure cookies,
// JSON logs, no demo data).
func (c Config) Production() bool {
	return c.Env == envProduction
}

// Development reports whether this is a developer's machine (templates are read
// from disk, so edits show without a rebuild).
func (c Config) Development() bool {
	return c.Env == envDevelopment
}

// Load reads the configuration. getenv is the real environment (os.Getenv in main;
// tests pass a map lookup). dotenvPath, if non-empty and the file exists, is read with
// godotenv.Read; a variable set (non-empty) in the real environment wins over the file.
// A missing .env file is not an error; an unreadable/malformed one is.
//
// All problems found are returned together (errors.Join), one per variable, each
// starting "config: NAME:".
func Load(getenv func(string) string, dotenvPath string) (Config, error) {
	dotenv, err := readDotenv(dotenvPath)
	if err != nil {
		return Config{}, err
	}
	lookup := func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return dotenv[key]
	}

	// getenv cannot be enumerated, so ask it for exactly the keys Config uses.
	// The map must be non-nil: caarlos0/env falls back to os.Environ for a nil one.
	params, err := env.GetFieldParams(&Config{})
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	environ := make(map[string]string, len(params))
	for _, p := range params {
		if v := lookup(p.Key); v != "" {
			environ[p.Key] = v
		}
	}

	var cfg Config
	var c checker
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ}); err != nil {
		c.addParseErrors(err, environ)
	}

	switch cfg.Env {
	case envDevelopment, envProduction, envTest:
	default:
		c.fail("APP_ENV", nil, "must be %q, %q or %q, got %q", envDevelopment, envProduction, envTest, cfg.Env)
	}
	prod := cfg.Production()

	// Defaults that depend on APP_ENV: convenient in development, safe in production.
	if environ["DEMO_DATA"] == "" {
		cfg.DemoData = !prod
	}
	if environ["ALLOW_REGISTRATION"] == "" {
		cfg.AllowRegistration = !prod
	}
	if cfg.LogFormat == "" {
		cfg.LogFormat = "text"
		if prod {
			cfg.LogFormat = "json"
		}
	}

	cfg.LogLevel = c.logLevel(lookup("LOG_LEVEL"))
	format := strings.ToLower(cfg.LogFormat)
	c.check("LOG_FORMAT", format == "text" || format == "json", "must be text or json, got %q", cfg.LogFormat)
	cfg.LogFormat = format

	// The demo users and keys are published in the article, so anyone could log in.
	c.check("DEMO_DATA", !(prod && cfg.DemoData),
		"demo data is refused in production (its users and keys are public)")

	// The URL may hold a password, so the message never repeats it.
	if cfg.RedisURL != "" {
		c.check("REDIS_URL", strings.HasPrefix(cfg.RedisURL, "redis://") || strings.HasPrefix(cfg.RedisURL, "rediss://"),
			"must start with redis:// or rediss://")
		if _, err := url.Parse(cfg.RedisURL); err != nil {
			c.fail("REDIS_URL", nil, "is not a valid URL")
		}
	}

	// Below 10 a stolen hash is cheap to crack; above 16 every login takes seconds.
	if prod {
		c.checkRange("BCRYPT_COST", cfg.BcryptCost, 10, 16, " in production")
	} else {
		c.checkRange("BCRYPT_COST", cfg.BcryptCost, 4, 31, "")
	}

	c.check("SESSION_IDLE_TIMEOUT", cfg.SessionIdleTimeout > 0,
		"must be greater than 0, got %s", cfg.SessionIdleTimeout)
	c.check("SESSION_ABSOLUTE_TIMEOUT", cfg.SessionAbsoluteTimeout > 0,
		"must be greater than 0, got %s", cfg.SessionAbsoluteTimeout)
	c.check("SESSION_ABSOLUTE_TIMEOUT", cfg.SessionAbsoluteTimeout >= cfg.SessionIdleTimeout,
		"must not be shorter than SESSION_IDLE_TIMEOUT (%s), got %s", cfg.SessionIdleTimeout, cfg.SessionAbsoluteTimeout)
	c.check("RATE_LIMIT_MAX", cfg.RateLimitMax >= 1, "must be at least 1, got %d", cfg.RateLimitMax)
	c.check("RATE_LIMIT_WINDOW", cfg.RateLimitWindow >= time.Second,
		"must be at least 1s, got %s", cfg.RateLimitWindow)
	c.check("LOGIN_MAX_FAILURES", cfg.LoginMaxFailures >= 1, "must be at least 1, got %d", cfg.LoginMaxFailures)
	c.check("LOGIN_FAILURE_WINDOW", cfg.LoginFailureWindow >= time.Second,
		"must be at least 1s, got %s", cfg.LoginFailureWindow)
	// Values past these bounds are mistakes, not tuning: a window or a session of
	// more than that long is never meant, anywhere.
	c.check("RATE_LIMIT_WINDOW", cfg.RateLimitWindow <= maxLimitWindow,
		"must be at most %s, got %s", maxLimitWindow, cfg.RateLimitWindow)
	c.check("LOGIN_FAILURE_WINDOW", cfg.LoginFailureWindow <= maxLimitWindow,
		"must be at most %s, got %s", maxLimitWindow, cfg.LoginFailureWindow)
	c.check("SESSION_ABSOLUTE_TIMEOUT", cfg.SessionAbsoluteTimeout <= maxSessionAbsolute,
		"must be at most %s (30 days), got %s", maxSessionAbsolute, cfg.SessionAbsoluteTimeout)
	if prod {
		// Outside production, tests and benchmarks raise the limits out of the way; in
		// production a limit that high is no limit, and an idle timeout under a minute
		// logs people out between two clicks.
		c.check("RATE_LIMIT_MAX", cfg.RateLimitMax <= maxRateLimit,
			"must be at most %d in production, got %d", maxRateLimit, cfg.RateLimitMax)
		c.check("LOGIN_MAX_FAILURES", cfg.LoginMaxFailures <= maxLoginFailures,
			"must be at most %d in production, got %d", maxLoginFailures, cfg.LoginMaxFailures)
		c.check("SESSION_IDLE_TIMEOUT", cfg.SessionIdleTimeout >= minSessionIdle,
			"must be at least %s in production, got %s", minSessionIdle, cfg.SessionIdleTimeout)
	}
	c.checkRange("MAX_BODY_BYTES", cfg.BodyLimit, 1024, 64<<20, "")
	c.check("SHUTDOWN_TIMEOUT", cfg.ShutdownTimeout > 0,
		"must be greater than 0, got %s", cfg.ShutdownTimeout)
	// Pruning runs hourly, so a retention under an hour could not be held to; there
	// is no "keep forever" (0): failed logins alone would grow the table without end.
	c.check("AUDIT_RETENTION", cfg.AuditRetention >= minAuditRetention,
		"must be at least %s, got %s", minAuditRetention, cfg.AuditRetention)

	c.beyondThePassword(&cfg, lookup, prod)

	cfg.CORSAllowOrigins = c.origins("CORS_ALLOW_ORIGINS", cfg.CORSAllowOrigins)
	cfg.TrustedProxies = c.proxies("TRUSTED_PROXIES", cfg.TrustedProxies, prod)

	if err := errors.Join(c.errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// beyondThePassword checks the settings of tokens, passkeys, the second factor
// and mail. Secrets are read with lookup (not the env tags) so that no message
// can repeat them, and their bytes are kept decoded.
func (c *checker) beyondThePassword(cfg *Config, lookup func(string) string, prod bool) {
	if cfg.PublicURL == "" && !prod {
		cfg.PublicURL = DefaultPublicURL
	}
	if cfg.PublicURL == "" {
		c.fail("PUBLIC_URL", nil, "is required in production (the site's origin, e.g. https://auth.example.com): "+
			"it names the passkey relying party, the token issuer and the links in mail")
	} else if origin, ok := publicOrigin(cfg.PublicURL); !ok {
		c.fail("PUBLIC_URL", nil, "invalid origin %q (want scheme://host[:port] with no path, e.g. https://auth.example.com)", cfg.PublicURL)
	} else {
		cfg.PublicURL = origin
		u, _ := url.Parse(origin)
		c.check("PUBLIC_URL", !prod || u.Scheme == "https" || u.Hostname() == "localhost",
			"must be https in production (passkeys and Secure cookies need it), got %q", origin)
	}

	if raw := lookup("SECRETS_KEY"); raw != "" {
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(raw))
		if err != nil || len(key) != secretsKeySize {
			c.fail("SECRETS_KEY", nil, "must be %d bytes in base64 (e.g. `openssl rand -base64 32`)", secretsKeySize)
		}
		cfg.SecretsKey = key
	} else {
		c.check("SECRETS_KEY", !prod, "is required in production: %d bytes in base64 (e.g. `openssl rand -base64 32`); "+
			"it encrypts the second-factor secrets at rest", secretsKeySize)
	}

	switch cfg.JWTAlgorithm {
	case "EdDSA":
		c.check("JWT_SECRET", lookup("JWT_SECRET") == "", "is for JWT_ALGORITHM=HS256 only; EdDSA keys are kept in the database")
	case "HS256":
		secret := lookup("JWT_SECRET")
		c.check("JWT_SECRET", len(secret) >= minJWTSecret,
			"is required with JWT_ALGORITHM=HS256 and must be at least %d bytes (e.g. `openssl rand -base64 32`)", minJWTSecret)
		cfg.JWTSecret = []byte(secret)
	default:
		c.fail("JWT_ALGORITHM", nil, "must be EdDSA or HS256, got %q", cfg.JWTAlgorithm)
	}
	c.check("ACCESS_TOKEN_TTL", cfg.AccessTokenTTL >= time.Minute && cfg.AccessTokenTTL <= maxAccessTokenTTL,
		"must be between 1m and %s, got %s", maxAccessTokenTTL, cfg.AccessTokenTTL)
	c.check("REFRESH_TOKEN_TTL", cfg.RefreshTokenTTL > cfg.AccessTokenTTL && cfg.RefreshTokenTTL <= maxRefreshTokenTTL,
		"must be longer than ACCESS_TOKEN_TTL and at most %s, got %s", maxRefreshTokenTTL, cfg.RefreshTokenTTL)

	// The URL may hold a password, so the message never repeats it.
	if cfg.SMTPURL != "" {
		u, err := url.Parse(cfg.SMTPURL)
		c.check("SMTP_URL", err == nil && (u.Scheme == "smtp" || u.Scheme == "smtps") && u.Hostname() != "" &&
			(u.Path == "" || u.Path == "/"), "must be smtp://[user:pass@]host:port or smtps://[user:pass@]host:port")
	}
	if cfg.MailFrom == "" && cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err == nil {
			cfg.MailFrom = "fiberauth <no-reply@" + u.Hostname() + ">"
		}
	}
	if _, err := mail.ParseAddress(cfg.MailFrom); cfg.MailFrom != "" && err != nil {
		c.fail("MAIL_FROM", err, "invalid address %q (want e.g. fiberauth <no-reply@example.com>)", cfg.MailFrom)
	}

	if cfg.MetricsAddr != "" {
		_, port, err := net.SplitHostPort(cfg.MetricsAddr)
		c.check("METRICS_ADDR", err == nil && port != "", "must be host:port or :port, got %q", cfg.MetricsAddr)
		// Port 0 is a free port, a different one each time (tests).
		c.check("METRICS_ADDR", cfg.MetricsAddr != cfg.Addr || port == "0", "must differ from ADDR: metrics are on their own listener")
	}
}

// publicOrigin returns u as scheme://host[:port] in lower case, or false when it
// is not an http(s) origin.
func publicOrigin(raw string) (string, bool) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", false
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), true
}

// readDotenv returns the variables in the .env file at path, or none if path is
// empty or the file does not exist: a .env file is a development convenience.
func readDotenv(path string) (map[string]string, error) {
	if path == "" {
		return nil, nil
	}
	vars, err := godotenv.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	return vars, nil
}

// varError is a problem with one variable. It keeps the underlying error (such as
// caarlos0/env's ParseError) for errors.As without repeating its wording.
type varError struct {
	name string
	msg  string
	err  error
}

func (e *varError) Error() string { return "config: " + e.name + ": " + e.msg }
func (e *varError) Unwrap() error { return e.err }

// checker collects at most one error per variable, so a value that failed to
// parse is not reported again by a range check on its zero value.
type checker struct {
	errs   []error
	failed map[string]bool
}

func (c *checker) fail(name string, cause error, format string, args ...any) {
	if c.failed[name] {
		return
	}
	if c.failed == nil {
		c.failed = make(map[string]bool)
	}
	c.failed[name] = true
	c.errs = append(c.errs, &varError{name: name, msg: fmt.Sprintf(format, args...), err: cause})
}

func (c *checker) check(name string, ok bool, format string, args ...any) {
	if !ok {
		c.fail(name, nil, format, args...)
	}
}

func (c *checker) checkRange(name string, v, lo, hi int, where string) {
	c.check(name, lo <= v && v <= hi, "must be between %d and %d%s, got %d", lo, hi, where, v)
}

// addParseErrors rewords caarlos0/env's errors, which name the Go field
// (e.g. "BcryptCost"), so that they name the environment variable instead.
func (c *checker) addParseErrors(err error, environ map[string]string) {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		c.errs = append(c.errs, fmt.Errorf("config: %w", err))
		return
	}
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			c.errs = append(c.errs, fmt.Errorf("config: %w", e))
			continue
		}
		name := pe.Name
		if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		raw := environ[name]
		switch {
		case pe.Type == reflect.TypeFor[time.Duration]():
			c.fail(name, pe, "invalid duration %q (want e.g. 30s, 15m, 24h)", raw)
		case pe.Type.Kind() == reflect.Int:
			c.fail(name, pe, "invalid integer %q", raw)
		case pe.Type.Kind() == reflect.Bool:
			c.fail(name, pe, "invalid boolean %q (want true or false)", raw)
		default:
			c.fail(name, pe, "invalid value %q", raw)
		}
	}
}

func (c *checker) logLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "", "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	c.fail("LOG_LEVEL", nil, "must be debug, info, warn or error, got %q", s)
	return slog.LevelInfo
}

// origins trims and validates CORS origins and returns them as scheme://host[:port]
// in lower case, the form browsers send in the Origin header.
func (c *checker) origins(name string, list []string) []string {
	var out []string
	for _, o := range trimList(list) {
		if o == "*" {
			// "*" would let any site's script read our API's answers; and were
			// credentials ever allowed, browsers (and Fiber's cors middleware, which
			// panics) reject a wildcard together with them. Name the origins.
			c.fail(name, nil, `"*" cannot be combined with credentials; list the allowed origins instead`)
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			strings.Contains(u.Host, "*") || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			c.fail(name, err, "invalid origin %q (want scheme://host[:port] with no path, e.g. https://example.com)", o)
			continue
		}
		out = append(out, strings.ToLower(u.Scheme+"://"+u.Host))
	}
	return out
}

// proxies trims and validates the trusted proxies; each is a CIDR or a single IP.
// In production a range that holds (nearly) every address is refused: whoever is in
// it can write X-Forwarded-For, and so pick the client IP that limits count.
func (c *checker) proxies(name string, list []string, prod bool) []string {
	var out []string
	for _, p := range trimList(list) {
		var (
			prefix netip.Prefix
			err    error
		)
		if strings.Contains(p, "/") {
			prefix, err = netip.ParsePrefix(p)
		} else {
			var a netip.Addr
			a, err = netip.ParseAddr(p)
			prefix = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			c.fail(name, err, "invalid CIDR or IP address %q", p)
			continue
		}
		if prod && tooWide(prefix) {
			c.fail(name, nil, "%q trusts too many addresses: anyone in it could forge X-Forwarded-For; "+
				"in production a range must be at least /%d for IPv4 and /%d for IPv6", p, minProxyBits4, minProxyBits6)
			continue
		}
		out = append(out, p)
	}
	return out
}

// tooWide reports whether a trusted-proxy range is shorter than we accept in
// production. An IPv4-mapped IPv6 range (::ffff:0:0/96 is every IPv4 address)
// is judged as the IPv4 range it maps.
func tooWide(p netip.Prefix) bool {
	bits := p.Bits()
	if p.Addr().Is4In6() && bits >= 96 {
		return bits-96 < minProxyBits4
	}
	if p.Addr().Is4() {
		return bits < minProxyBits4
	}
	return bits < minProxyBits6
}

// trimList trims spaces around comma-separated items and drops empty ones, so
// "a, b," means [a b].
func trimList(list []string) []string {
	var out []string
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
