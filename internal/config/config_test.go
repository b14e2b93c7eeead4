package config_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caarlos0/env/v11"

	"fiberauth/internal/config"
)

// testSecretsKey is the bytes 0..31, SECRETS_KEY "AAECAwQF…Hh8=" in the tests.
var testSecretsKey = func() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}()

// getenv turns a map into a stand-in for os.Getenv, so tests never read or
// change the real environment and can run in parallel.
func getenv(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

// mustLoad loads from vars (and no .env file) and fails the test on error.
func mustLoad(t *testing.T, vars map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(getenv(vars), "")
	if err != nil {
		t.Fatalf("Load: unexpected error: %v", err)
	}
	return cfg
}

// loadErr loads from vars and fails the test unless Load returns an error.
func loadErr(t *testing.T, vars map[string]string) error {
	t.Helper()
	_, err := config.Load(getenv(vars), "")
	if err == nil {
		t.Fatalf("Load(%v): got no error, want one", vars)
	}
	return err
}

// writeDotenv writes content to a .env file in a fresh temp dir and returns its path.
func writeDotenv(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), ".env")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()

	development := config.Config{
		Env:                    "development",
		Addr:                   ":3000",
		DatabaseURL:            "data/fiberauth.db",
		DemoData:               true,
		AllowRegistration:      true,
		BcryptCost:             12,
		SessionIdleTimeout:     30 * time.Minute,
		SessionAbsoluteTimeout: 24 * time.Hour,
		RateLimitMax:           100,
		RateLimitWindow:        15 * time.Minute,
		LoginMaxFailures:       5,
		LoginFailureWindow:     15 * time.Minute,
		LogLevel:               slog.LevelInfo,
		LogFormat:              "text",
		BodyLimit:              1 << 20,
		ShutdownTimeout:        10 * time.Second,
		AuditRetention:         90 * 24 * time.Hour,
		PublicURL:              "http://localhost:3000",
		JWTAlgorithm:           "EdDSA",
		AccessTokenTTL:         30 * time.Minute,
		RefreshTokenTTL:        720 * time.Hour,
		MailFrom:               "fiberauth <no-reply@localhost>",
	}
	test := development
	test.Env = "test"
	production := development
	production.Env = "production"
	production.DemoData = false
	production.AllowRegistration = false
	production.LogFormat = "json"
	production.PublicURL = "https://auth.example.com"
	production.SecretsKey = testSecretsKey
	production.MailFrom = "fiberauth <no-reply@auth.example.com>"

	tests := []struct {
		name     string
		vars     map[string]string
		want     config.Config
		wantProd bool
	}{
		{"an empty environment gives the development defaults", nil, development, false},
		{"empty values count as unset", map[string]string{"APP_ENV": "", "BCRYPT_COST": "", "DEMO_DATA": ""}, development, false},
		{"the test environment has the development defaults", map[string]string{"APP_ENV": "test"}, test, false},
		{"production turns off demo data and registration and logs JSON", map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}, production, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := mustLoad(t, tt.vars)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Load:\n got %+v\nwant %+v", got, tt.want)
			}
			if got.Production() != tt.wantProd {
				t.Errorf("Production() = %v, want %v", got.Production(), tt.wantProd)
			}
		})
	}
}

func TestLoadValues(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		vars  map[string]string
		check func(t *testing.T, cfg config.Config)
	}{
		{
			name: "every variable is read",
			vars: map[string]string{
				"ADDR": "127.0.0.1:8080", "DATABASE_URL": "postgres://db/app", "REDIS_URL": "rediss://cache:6380/0",
				"DEMO_DATA": "false", "ALLOW_REGISTRATION": "0", "BCRYPT_COST": "4",
				"SESSION_IDLE_TIMEOUT": "5m", "SESSION_ABSOLUTE_TIMEOUT": "1h",
				"RATE_LIMIT_MAX": "7", "RATE_LIMIT_WINDOW": "1s", "LOGIN_MAX_FAILURES": "3", "LOGIN_FAILURE_WINDOW": "2m",
				"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "JSON", "MAX_BODY_BYTES": "1024", "SHUTDOWN_TIMEOUT": "3s",
				"AUDIT_RETENTION": "720h",
				"PUBLIC_URL":      "HTTPS://Auth.Example.com:8443/", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
				"JWT_ALGORITHM": "HS256", "JWT_SECRET": "0123456789abcdef0123456789abcdef",
				"ACCESS_TOKEN_TTL": "15m", "REFRESH_TOKEN_TTL": "48h",
				"SMTP_URL": "smtps://mailer:pw@mail.example.com:465", "MAIL_FROM": "Auth <auth@example.com>",
				"METRICS_ADDR": "127.0.0.1:9090",
			},
			check: func(t *testing.T, cfg config.Config) {
				t.Helper()
				want := config.Config{
					Env: "development", Addr: "127.0.0.1:8080", DatabaseURL: "postgres://db/app", RedisURL: "rediss://cache:6380/0",
					BcryptCost: 4, SessionIdleTimeout: 5 * time.Minute, SessionAbsoluteTimeout: time.Hour,
					RateLimitMax: 7, RateLimitWindow: time.Second, LoginMaxFailures: 3, LoginFailureWindow: 2 * time.Minute,
					LogLevel: slog.LevelDebug, LogFormat: "json", BodyLimit: 1024, ShutdownTimeout: 3 * time.Second,
					AuditRetention: 720 * time.Hour,
					PublicURL:      "https://auth.example.com:8443", SecretsKey: testSecretsKey,
					JWTAlgorithm: "HS256", JWTSecret: []byte("0123456789abcdef0123456789abcdef"),
					AccessTokenTTL: 15 * time.Minute, RefreshTokenTTL: 48 * time.Hour,
					SMTPURL: "smtps://mailer:pw@mail.example.com:465", MailFrom: "Auth <auth@example.com>",
					MetricsAddr: "127.0.0.1:9090",
				}
				if !reflect.DeepEqual(cfg, want) {
					t.Errorf("Load:\n got %+v\nwant %+v", cfg, want)
				}
			},
		},
		{
			name: "lists are split on commas with spaces trimmed",
			vars: map[string]string{
				"CORS_ALLOW_ORIGINS": "https://a.example, https://b.example:8443 ,",
				"TRUSTED_PROXIES":    " 10.0.0.0/8 ,192.168.1.1, ::1,fd00::/8",
			},
			check: func(t *testing.T, cfg config.Config) {
				t.Helper()
				wantOrigins := []string{"https://a.example", "https://b.example:8443"}
				if !reflect.DeepEqual(cfg.CORSAllowOrigins, wantOrigins) {
					t.Errorf("CORSAllowOrigins = %q, want %q", cfg.CORSAllowOrigins, wantOrigins)
				}
				wantProxies := []string{"10.0.0.0/8", "192.168.1.1", "::1", "fd00::/8"}
				if !reflect.DeepEqual(cfg.TrustedProxies, wantProxies) {
					t.Errorf("TrustedProxies = %q, want %q", cfg.TrustedProxies, wantProxies)
				}
			},
		},
		{
			name: "origins are normalised to the form browsers send",
			vars: map[string]string{"CORS_ALLOW_ORIGINS": "HTTPS://App.Example/"},
			check: func(t *testing.T, cfg config.Config) {
				t.Helper()
				if want := []string{"https://app.example"}; !reflect.DeepEqual(cfg.CORSAllowOrigins, want) {
					t.Errorf("CORSAllowOrigins = %q, want %q", cfg.CORSAllowOrigins, want)
				}
			},
		},
		{
			name: "production may turn registration on explicitly",
			vars: map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "ALLOW_REGISTRATION": "true", "LOG_FORMAT": "text", "BCRYPT_COST": "10"},
			check: func(t *testing.T, cfg config.Config) {
				t.Helper()
				if !cfg.AllowRegistration || cfg.LogFormat != "text" || cfg.BcryptCost != 10 || cfg.DemoData {
					t.Errorf("got AllowRegistration=%v LogFormat=%q BcryptCost=%d DemoData=%v, want true text 10 false",
						cfg.AllowRegistration, cfg.LogFormat, cfg.BcryptCost, cfg.DemoData)
				}
			},
		},
		{
			name: "development may turn demo data off explicitly",
			vars: map[string]string{"DEMO_DATA": "false"},
			check: func(t *testing.T, cfg config.Config) {
				t.Helper()
				if cfg.DemoData {
					t.Error("DemoData = true, want false")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, mustLoad(t, tt.vars))
		})
	}
}

func TestLoadRejectsInvalidValues(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		vars map[string]string
		want []string // substrings of the error message
	}{
		{"production needs PUBLIC_URL and SECRETS_KEY",
			map[string]string{"APP_ENV": "production"}, []string{"config: PUBLIC_URL: is required in production", "config: SECRETS_KEY: is required in production"}},
		{"PUBLIC_URL must be an origin",
			map[string]string{"PUBLIC_URL": "https://auth.example.com/app"}, []string{"config: PUBLIC_URL: invalid origin"}},
		{"PUBLIC_URL must be https in production",
			map[string]string{"APP_ENV": "production", "PUBLIC_URL": "http://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="},
			[]string{"config: PUBLIC_URL: must be https in production"}},
		{"a short SECRETS_KEY is refused without repeating it",
			map[string]string{"SECRETS_KEY": "c2hvcnQ="}, []string{"config: SECRETS_KEY: must be 32 bytes in base64"}},
		{"HS256 needs a JWT_SECRET of 32 bytes",
			map[string]string{"JWT_ALGORITHM": "HS256", "JWT_SECRET": "secret"}, []string{"config: JWT_SECRET: is required with JWT_ALGORITHM=HS256"}},
		{"the article's none-like algorithms are refused",
			map[string]string{"JWT_ALGORITHM": "none"}, []string{`config: JWT_ALGORITHM: must be EdDSA or HS256, got "none"`}},
		{"a JWT_SECRET without HS256 is a mistake",
			map[string]string{"JWT_SECRET": "0123456789abcdef0123456789abcdef"}, []string{"config: JWT_SECRET: is for JWT_ALGORITHM=HS256 only"}},
		{"a refresh token must outlive its access token",
			map[string]string{"ACCESS_TOKEN_TTL": "1h", "REFRESH_TOKEN_TTL": "30m"}, []string{"config: REFRESH_TOKEN_TTL:"}},
		{"an SMTP URL of another scheme is refused without repeating it",
			map[string]string{"SMTP_URL": "http://user:hunter2@mail"}, []string{"config: SMTP_URL: must be smtp://"}},
		{"a bad MAIL_FROM is refused",
			map[string]string{"MAIL_FROM": "not an address"}, []string{"config: MAIL_FROM: invalid address"}},
		{"METRICS_ADDR must be host:port",
			map[string]string{"METRICS_ADDR": "9090"}, []string{"config: METRICS_ADDR:"}},
		{"a bad duration names the variable and the value",
			map[string]string{"SESSION_IDLE_TIMEOUT": "abc"}, []string{`config: SESSION_IDLE_TIMEOUT: invalid duration "abc"`}},
		{"a bad integer names the variable",
			map[string]string{"BCRYPT_COST": "twelve"}, []string{`config: BCRYPT_COST: invalid integer "twelve"`}},
		{"a bad boolean names the variable",
			map[string]string{"DEMO_DATA": "yes please"}, []string{`config: DEMO_DATA: invalid boolean "yes please"`}},
		{"an unknown APP_ENV is refused",
			map[string]string{"APP_ENV": "staging"}, []string{"config: APP_ENV:", `"staging"`}},
		{"APP_ENV is case-sensitive",
			map[string]string{"APP_ENV": "Production"}, []string{"config: APP_ENV:"}},
		{"a bad log level is refused",
			map[string]string{"LOG_LEVEL": "loud"}, []string{"config: LOG_LEVEL:", `"loud"`}},
		{"a slog offset level is not documented and is refused",
			map[string]string{"LOG_LEVEL": "info+2"}, []string{"config: LOG_LEVEL:"}},
		{"a bad log format is refused",
			map[string]string{"LOG_FORMAT": "xml"}, []string{"config: LOG_FORMAT:", `"xml"`}},
		{"a bad CIDR is refused",
			map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.0/33"}, []string{"config: TRUSTED_PROXIES:", `"10.0.0.0/33"`}},
		{"a host name is not a trusted proxy",
			map[string]string{"TRUSTED_PROXIES": "proxy.internal"}, []string{"config: TRUSTED_PROXIES:"}},
		{"a redis URL with another scheme is refused",
			map[string]string{"REDIS_URL": "http://cache:6379"}, []string{"config: REDIS_URL:", "redis://"}},
		{"a CORS origin with a path is refused",
			map[string]string{"CORS_ALLOW_ORIGINS": "https://a.example/app"}, []string{"config: CORS_ALLOW_ORIGINS:", `"https://a.example/app"`}},
		{"a CORS origin without a scheme is refused",
			map[string]string{"CORS_ALLOW_ORIGINS": "a.example"}, []string{"config: CORS_ALLOW_ORIGINS:"}},
		{"a CORS wildcard is refused because sessions use credentials",
			map[string]string{"CORS_ALLOW_ORIGINS": "https://a.example, *"}, []string{"config: CORS_ALLOW_ORIGINS:", `"*" cannot be combined with credentials`}},
		{"a bcrypt cost outside what bcrypt accepts is refused",
			map[string]string{"BCRYPT_COST": "3"}, []string{"config: BCRYPT_COST: must be between 4 and 31, got 3"}},
		{"a zero idle timeout is refused",
			map[string]string{"SESSION_IDLE_TIMEOUT": "0s"}, []string{"config: SESSION_IDLE_TIMEOUT:"}},
		{"an absolute timeout shorter than the idle timeout is refused",
			map[string]string{"SESSION_IDLE_TIMEOUT": "2h", "SESSION_ABSOLUTE_TIMEOUT": "1h"}, []string{"config: SESSION_ABSOLUTE_TIMEOUT:"}},
		{"a zero rate limit is refused",
			map[string]string{"RATE_LIMIT_MAX": "0"}, []string{"config: RATE_LIMIT_MAX:"}},
		{"a sub-second rate limit window is refused",
			map[string]string{"RATE_LIMIT_WINDOW": "500ms"}, []string{"config: RATE_LIMIT_WINDOW:"}},
		{"a zero login failure limit is refused",
			map[string]string{"LOGIN_MAX_FAILURES": "0"}, []string{"config: LOGIN_MAX_FAILURES:"}},
		{"a sub-second login failure window is refused",
			map[string]string{"LOGIN_FAILURE_WINDOW": "10ms"}, []string{"config: LOGIN_FAILURE_WINDOW:"}},
		{"a tiny body limit is refused",
			map[string]string{"MAX_BODY_BYTES": "100"}, []string{"config: MAX_BODY_BYTES: must be between 1024 and 67108864, got 100"}},
		{"a negative shutdown timeout is refused",
			map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, []string{"config: SHUTDOWN_TIMEOUT:"}},
		{"production refuses demo data",
			map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "DEMO_DATA": "true"}, []string{"config: DEMO_DATA:", "demo data is refused in production"}},
		{"production refuses a low bcrypt cost",
			map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "BCRYPT_COST": "4"}, []string{"config: BCRYPT_COST: must be between 10 and 16 in production, got 4"}},
		{"production refuses a very high bcrypt cost",
			map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "BCRYPT_COST": "17"}, []string{"config: BCRYPT_COST:", "in production"}},
		{"production refuses a CORS wildcard",
			map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "CORS_ALLOW_ORIGINS": "*"}, []string{"config: CORS_ALLOW_ORIGINS:", `"*"`}},
		{"every bad variable is reported, not just the first",
			map[string]string{"BCRYPT_COST": "x", "RATE_LIMIT_WINDOW": "y", "LOG_LEVEL": "z"},
			[]string{"config: BCRYPT_COST:", "config: RATE_LIMIT_WINDOW:", "config: LOG_LEVEL:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := loadErr(t, tt.vars)
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestLoadErrorDetails(t *testing.T) {
	t.Parallel()

	t.Run("a value that fails to parse is reported once", func(t *testing.T) {
		t.Parallel()
		err := loadErr(t, map[string]string{"BCRYPT_COST": "abc"})
		if n := strings.Count(err.Error(), "BCRYPT_COST"); n != 1 {
			t.Errorf("BCRYPT_COST reported %d times in %q, want 1", n, err)
		}
	})

	t.Run("the parse error from caarlos0/env is kept in the chain", func(t *testing.T) {
		t.Parallel()
		err := loadErr(t, map[string]string{"RATE_LIMIT_MAX": "many"})
		var pe env.ParseError
		if !errors.As(err, &pe) || pe.Name != "RateLimitMax" {
			t.Errorf("errors.As(%v, ParseError) = %v, %+v; want the RateLimitMax ParseError", err, errors.As(err, &pe), pe)
		}
	})

	t.Run("a bad redis URL is not repeated in the error because it may hold a password", func(t *testing.T) {
		t.Parallel()
		err := loadErr(t, map[string]string{"REDIS_URL": "http://:hunter2@cache:6379"})
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q leaks the URL's password", err)
		}
	})

	t.Run("an invalid config returns the zero Config", func(t *testing.T) {
		t.Parallel()
		cfg, err := config.Load(getenv(map[string]string{"APP_ENV": "nope"}), "")
		if err == nil || !reflect.DeepEqual(cfg, config.Config{}) {
			t.Errorf("Load = %+v, %v; want zero Config and an error", cfg, err)
		}
	})
}

func TestLoadDotenv(t *testing.T) {
	t.Parallel()

	t.Run("a .env file is read", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "# local settings\nADDR=:4000\nBCRYPT_COST=5\nLOG_LEVEL=warn\nCORS_ALLOW_ORIGINS=\"https://a.example, https://b.example\"\n")
		cfg, err := config.Load(getenv(nil), path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Addr != ":4000" || cfg.BcryptCost != 5 || cfg.LogLevel != slog.LevelWarn || len(cfg.CORSAllowOrigins) != 2 {
			t.Errorf("got Addr=%q BcryptCost=%d LogLevel=%v CORS=%q; want the .env values", cfg.Addr, cfg.BcryptCost, cfg.LogLevel, cfg.CORSAllowOrigins)
		}
	})

	t.Run("the real environment wins over the .env file", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "ADDR=:4000\nBCRYPT_COST=5\nLOG_LEVEL=warn\n")
		cfg, err := config.Load(getenv(map[string]string{"ADDR": ":5000", "LOG_LEVEL": "error"}), path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Addr != ":5000" || cfg.LogLevel != slog.LevelError || cfg.BcryptCost != 5 {
			t.Errorf("got Addr=%q LogLevel=%v BcryptCost=%d; want :5000 ERROR 5", cfg.Addr, cfg.LogLevel, cfg.BcryptCost)
		}
	})

	t.Run("an empty real variable does not hide the .env value", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "ADDR=:4000\n")
		cfg, err := config.Load(getenv(map[string]string{"ADDR": ""}), path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Addr != ":4000" {
			t.Errorf("Addr = %q, want :4000", cfg.Addr)
		}
	})

	t.Run("production set in the .env file applies the production rules", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "APP_ENV=production\nPUBLIC_URL=https://auth.example.com\nSECRETS_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\nDEMO_DATA=true\n")
		_, err := config.Load(getenv(nil), path)
		if err == nil || !strings.Contains(err.Error(), "DEMO_DATA") {
			t.Errorf("Load: got %v, want a DEMO_DATA error", err)
		}
	})

	t.Run("a bad value in the .env file names the variable", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "SHUTDOWN_TIMEOUT=soon\n")
		_, err := config.Load(getenv(nil), path)
		if err == nil || !strings.Contains(err.Error(), `config: SHUTDOWN_TIMEOUT: invalid duration "soon"`) {
			t.Errorf("Load: got %v, want a SHUTDOWN_TIMEOUT error", err)
		}
	})

	t.Run("a missing .env file is fine", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "no-such.env")
		cfg, err := config.Load(getenv(nil), path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if cfg.Addr != ":3000" {
			t.Errorf("Addr = %q, want the default :3000", cfg.Addr)
		}
	})

	t.Run("a malformed .env file is an error", func(t *testing.T) {
		t.Parallel()
		path := writeDotenv(t, "SECRET='unterminated\n")
		_, err := config.Load(getenv(nil), path)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Load: got %v, want an error naming %s", err, path)
		}
	})

	t.Run("an unreadable .env path is an error", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir() // a directory opens but cannot be read as a file
		_, err := config.Load(getenv(nil), dir)
		if err == nil {
			t.Error("Load: got no error for a directory as .env")
		}
	})
}

// Values past the bounds in the README's configuration table are refused, with a
// message naming the variable; the bounds themselves are accepted.
func TestLoadBounds(t *testing.T) {
	t.Parallel()
	prod := func(vars map[string]string) map[string]string {
		out := map[string]string{"APP_ENV": "production", "PUBLIC_URL": "https://auth.example.com", "SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "BCRYPT_COST": "10"}
		for k, v := range vars {
			out[k] = v
		}
		return out
	}

	refused := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"production refuses trusting every IPv4 address",
			prod(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 0.0.0.0/0"}), `config: TRUSTED_PROXIES: "0.0.0.0/0" trusts too many addresses`},
		{"production refuses trusting every IPv6 address",
			prod(map[string]string{"TRUSTED_PROXIES": "::/0"}), `config: TRUSTED_PROXIES: "::/0" trusts too many addresses`},
		{"production refuses an IPv4 range shorter than /8",
			prod(map[string]string{"TRUSTED_PROXIES": "0.0.0.0/7"}), `config: TRUSTED_PROXIES: "0.0.0.0/7"`},
		{"production refuses an IPv6 range shorter than /16",
			prod(map[string]string{"TRUSTED_PROXIES": "2000::/3"}), `config: TRUSTED_PROXIES: "2000::/3"`},
		{"production refuses every IPv4 address written as IPv4-mapped IPv6",
			prod(map[string]string{"TRUSTED_PROXIES": "::ffff:0.0.0.0/96"}), `config: TRUSTED_PROXIES: "::ffff:0.0.0.0/96"`},
		{"a rate-limit window over a day is refused anywhere",
			map[string]string{"RATE_LIMIT_WINDOW": "25h"}, "config: RATE_LIMIT_WINDOW: must be at most 24h0m0s, got 25h0m0s"},
		{"a failed-login window over a day is refused anywhere",
			map[string]string{"LOGIN_FAILURE_WINDOW": "48h"}, "config: LOGIN_FAILURE_WINDOW: must be at most 24h0m0s"},
		{"an absolute session timeout over 30 days is refused anywhere",
			map[string]string{"SESSION_ABSOLUTE_TIMEOUT": "721h"}, "config: SESSION_ABSOLUTE_TIMEOUT: must be at most 720h0m0s (30 days)"},
		{"production refuses a rate limit over a million",
			prod(map[string]string{"RATE_LIMIT_MAX": "1000001"}), "config: RATE_LIMIT_MAX: must be at most 1000000 in production, got 1000001"},
		{"production refuses a failed-login limit over a thousand",
			prod(map[string]string{"LOGIN_MAX_FAILURES": "1001"}), "config: LOGIN_MAX_FAILURES: must be at most 1000 in production, got 1001"},
		{"an audit retention of 0 is refused (there is no keeping forever)",
			map[string]string{"AUDIT_RETENTION": "0s"}, "config: AUDIT_RETENTION: must be at least 1h0m0s, got 0s"},
		{"an audit retention under the hourly pruning is refused",
			map[string]string{"AUDIT_RETENTION": "59m"}, "config: AUDIT_RETENTION: must be at least 1h0m0s, got 59m0s"},
		{"a bad audit retention names the variable",
			map[string]string{"AUDIT_RETENTION": "90 days"}, `config: AUDIT_RETENTION: invalid duration "90 days"`},
		{"production refuses an idle timeout under a minute",
			prod(map[string]string{"SESSION_IDLE_TIMEOUT": "59s"}), "config: SESSION_IDLE_TIMEOUT: must be at least 1m0s in production, got 59s"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := loadErr(t, tt.vars); !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}

	accepted := []struct {
		name string
		vars map[string]string
	}{
		{"production accepts the widest ranges allowed",
			prod(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::/16, 192.0.2.7, ::ffff:10.0.0.0/104"})},
		{"outside production any range may be trusted", map[string]string{"TRUSTED_PROXIES": "0.0.0.0/0, ::/0"}},
		{"a day-long window and a 30-day session are accepted",
			map[string]string{"RATE_LIMIT_WINDOW": "24h", "LOGIN_FAILURE_WINDOW": "24h", "SESSION_ABSOLUTE_TIMEOUT": "720h"}},
		{"production accepts the highest limits and the shortest idle timeout",
			prod(map[string]string{"RATE_LIMIT_MAX": "1000000", "LOGIN_MAX_FAILURES": "1000", "SESSION_IDLE_TIMEOUT": "1m"})},
		{"outside production limits may be raised out of the way (tests, benchmarks)",
			map[string]string{"RATE_LIMIT_MAX": "1073741824", "LOGIN_MAX_FAILURES": "1000000", "SESSION_IDLE_TIMEOUT": "1s"}},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mustLoad(t, tt.vars)
		})
	}
}

// A refused secret is never repeated in the message (start-up errors reach logs).
func TestLoadNeverRepeatsSecrets(t *testing.T) {
	t.Parallel()
	for _, vars := range []map[string]string{
		{"SMTP_URL": "ftp://mailer:hunter2@mail"},
		{"SECRETS_KEY": "hunter2"},
		{"JWT_ALGORITHM": "HS256", "JWT_SECRET": "hunter2"},
		{"JWT_SECRET": "hunter2"},
	} {
		if err := loadErr(t, vars); strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Load(%v) repeats the secret: %v", vars, err)
		}
	}
}
