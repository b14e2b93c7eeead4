package web

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apidoc"
	"fiberauth/internal/auth"
	"fiberauth/internal/config"
	"fiberauth/internal/mail"
	"fiberauth/internal/mfa"
	"fiberauth/internal/passkey"
	"fiberauth/internal/recovery"
	"fiberauth/internal/sessions"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
	"fiberauth/internal/testenv"
	"fiberauth/internal/token"
	"fiberauth/public"
	"fiberauth/views"
)

// testApp is the real application on a temp SQLite file with the demo data.
type testApp struct {
	app   *fiber.App
	logs  *testenv.Buffer // everything the app logged, as JSON lines
	doc   *apidoc.Doc
	auth  *auth.Service
	store store.Store
	clock *testenv.Clock
	cfg   config.Config
	// shared is the state the app's limits, throttle, sessions and caches share.
	shared   *shared.Memory
	csrf     []byte // the key that signs visitors' CSRF tokens
	tokens   *token.Service
	tokenKey []byte // the SECRETS_KEY its signing keys are sealed under
	// recovery is the app's email service; its worker is not running (tests call
	// ProcessResetRequests), unless a test starts it.
	recovery *recovery.Service
}

func (a *testApp) csrfKey(t testing.TB) []byte {
	t.Helper()
	return a.csrf
}

// newTestApp builds the app the way run does, with BCRYPT_COST=4 and the given
// environment overrides (e.g. "SESSION_IDLE_TIMEOUT": "1m").
func newTestApp(t testing.TB, env map[string]string) *testApp {
	t.Helper()
	return newTestAppOver(t, env, nil)
}

// newTestAppOver is newTestApp whose auth service sees the store through wrap
// (nil for none), for tests that watch what is asked of the store.
func newTestAppOver(t testing.TB, env map[string]string, wrap func(store.Store) store.Store) *testApp {
	t.Helper()
	vars := map[string]string{
		"APP_ENV":      "test",
		"BCRYPT_COST":  "4",
		"DATABASE_URL": filepath.Join(t.TempDir(), "test.db"),
		"DEMO_DATA":    "true",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, "")
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	st, err := store.Open(t.Context(), cfg.DatabaseURL)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	seen := st
	if wrap != nil {
		seen = wrap(st)
	}
	clock := testenv.NewClock(time.Now())
	storage := shared.NewMemory(nil)
	t.Cleanup(func() { storage.Close() })
	svc, err := auth.NewService(t.Context(), seen, auth.Options{BcryptCost: cfg.BcryptCost, CredentialTTL: auth.DefaultCredentialTTL,
		Shared: storage, Now: clock.Now})
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	t.Cleanup(func() { svc.Close() })
	if cfg.DemoData {
		if err := svc.SeedDemo(t.Context()); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}
	doc, err := apidoc.Load(t.Context())
	if err != nil {
		t.Fatalf("apidoc: %v", err)
	}
	secondFactor, err := mfa.New(mfa.Options{Store: st, Shared: storage, SecretsKey: []byte(rand.Text() + "012345"), Now: clock.Now})
	if err != nil {
		t.Fatalf("mfa: %v", err)
	}
	logs := &testenv.Buffer{}
	csrfKey := []byte(rand.Text() + rand.Text())
	tokens, tokenKey := newTestTokens(t, cfg, st, storage, svc, clock)
	templates, err := mail.LoadTemplates(views.FS)
	if err != nil {
		t.Fatalf("mail templates: %v", err)
	}
	rec := recovery.New(recovery.Options{Store: st, Auth: svc, Templates: templates, PublicURL: cfg.PublicURL, Now: clock.Now})
	passkeys, err := passkey.New(passkey.Config{PublicURL: cfg.PublicURL, SecretsKey: []byte(rand.Text() + "012345"),
		Store: st, Shared: storage, Audit: svc.Audit, Now: clock.Now})
	if err != nil {
		t.Fatalf("passkey: %v", err)
	}
	app := NewServer(Deps{
		Config:   cfg,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Auth:     svc,
		Sessions: sessions.NewManager(storage, svc, sessions.Config{IdleTimeout: cfg.SessionIdleTimeout, AbsoluteTimeout: cfg.SessionAbsoluteTimeout, Now: clock.Now}),
		MFA:      secondFactor,
		Passkeys: passkeys,
		Shared:   storage,
		Views:    testViews(t),
		Static:   public.FS,
		APIDoc:   doc,
		CSRFKey:  csrfKey,
		Tokens:   tokens,
		Recovery: rec,
	})
	return &testApp{app: app, doc: doc, logs: logs, auth: svc, store: st, clock: clock, cfg: cfg, shared: storage, csrf: csrfKey,
		tokens: tokens, tokenKey: tokenKey, recovery: rec}
}

// testViews parses the embedded templates, failing the test on a template error.
func testViews(t testing.TB) fiber.Views {
	t.Helper()
	engine, err := NewViews(views.FS, false)
	if err != nil {
		t.Fatalf("views: %v", err)
	}
	return engine
}

// request builds a request; headers come in name, value pairs.
func request(method, path, body string, headers ...string) *http.Request {
	return testenv.Request(method, path, body, headers...)
}

// jsonRequest is a request with a JSON body.
func jsonRequest(method, path, body string, headers ...string) *http.Request {
	return request(method, path, body, append([]string{"Content-Type", "application/json"}, headers...)...)
}

// do sends req through the real app and returns the response with its body read.
func (a *testApp) do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := a.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

// cookie returns the named cookie a response sets, or nil.
func cookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// mustLogin logs in with JSON and returns the session cookie.
func (a *testApp) mustLogin(t testing.TB, username, password string) *http.Cookie {
	t.Helper()
	resp, body := a.do(t, jsonRequest("POST", "/login", `{"username":"`+username+`","password":"`+password+`"}`))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login as %s: %d %s", username, resp.StatusCode, body)
	}
	c := cookie(resp, sessions.CookieName)
	if c == nil || c.Value == "" {
		t.Fatalf("login as %s set no session cookie", username)
	}
	return c
}

// withCookie adds a cookie to req and returns it.
func withCookie(req *http.Request, c *http.Cookie) *http.Request {
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	return req
}

// envelope decodes the error envelope, failing the test if body is not one.
func envelope(t testing.TB, body string) errorDetail {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Type == "" {
		t.Fatalf("not an error envelope: %q (%v)", body, err)
	}
	return e.Error
}

func basicAuth(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

// serve runs the app on a loopback listener until the test ends and returns its URL.
func (a *testApp) serve(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = a.app.Listener(ln) }()
	t.Cleanup(func() { _ = a.app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// apiDoc is the OpenAPI document the app serves.
func (a *testApp) apiDoc(t testing.TB) *apidoc.Doc {
	t.Helper()
	return a.doc
}
