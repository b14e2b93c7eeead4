package web

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"fiberauth/internal/apidoc"
	"fiberauth/internal/apperr"
	"fiberauth/internal/mfa"
	"fiberauth/internal/sessions"
)

// The playground lets a person call the API from the browser and see the raw
// exchange. The call is not simulated: the server builds the request and hands it
// to this very app's handler, so it meets the same middleware, rate limit,
// failed-login throttle and audit log as any client, keyed on the person's own
// address. The person names a route by its operationId from a fixed list, never by
// a URL or a path, so the playground can reach nothing but our own routes.

// playableOps are the operations the playground may call, by operationId: the
// article's routes and /whoami.
var playableOps = []string{"basicProfile", "basicAdmin", "apiKeyData", "apiKeyCreate", "login", "dashboard", "logout", "whoami",
	"usersMe"}

// How a playground call authenticates (the form's "auth" field).
const (
	authBasic   = "basic"
	authAPIKey  = "api_key"
	authSession = "session"
	authToken   = "token"

	keyInBearer = "bearer"
	keyInHeader = "header"
)

// Bounds on what the form accepts, so the calls it makes stay small.
const (
	playMaxBody  = 16 << 10 // the JSON body
	playMaxField = 256      // username, password, key
)

// playAuth is one way to authenticate, as the form offers it.
type playAuth struct{ ID, Label string }

var playAuths = []playAuth{{authBasic, "HTTP Basic"}, {authAPIKey, "API key"}, {authSession, "Session cookie"},
	{authToken, "OAuth 2.0 token"}}

// playOp is an operation the playground can call, read from the OpenAPI document.
type playOp struct {
	ID          string // the operationId: what the form sends
	Method      string
	Path        string
	Summary     string
	DefaultAuth string      // the method the route is made for
	Demo        apidoc.Demo // x-demo: the demo credentials that make it succeed
	Prefill     apidoc.Demo // Demo, completed with the document's first demo user and key
	Body        string      // the documented JSON body, for a route that takes one ("" otherwise)
}

// TakesBody reports whether the route reads the form's JSON body.
func (o playOp) TakesBody() bool { return o.Body != "" }

// Login reports whether the call is POST /login, whose body is the credentials.
func (o playOp) Login() bool { return o.ID == "login" }

type playOpGroup struct {
	Label string
	Ops   []playOp
}

// playground is the list of callable operations, built once at start-up.
type playground struct {
	groups []playOpGroup
	ops    map[string]playOp
	first  playOp
	// demoUser and demoKey fill the form for routes whose x-demo lacks them.
	demoUser apidoc.Demo
	demoKey  string
	// body is the JSON body the form starts with: the documented example of the
	// route that reads one (bodyOp).
	body, bodyOp string
}

// newPlayground reads the playable operations from the document; a name missing
// from it is a programming error the start-up reports.
func newPlayground(doc *apidoc.Doc) (*playground, error) {
	pg := &playground{ops: map[string]playOp{}}
	groupOf := map[string]int{}
	for _, id := range playableOps {
		o, ok := doc.Operation(id)
		if !ok {
			return nil, fmt.Errorf("playground: operation %q is not in openapi.yaml", id)
		}
		op := playOp{ID: id, Method: o.Method, Path: o.Path, Summary: o.Summary, DefaultAuth: defaultAuth(o), Demo: o.Demo()}
		if o.RequestBody != nil && !op.Login() {
			if mt := o.RequestBody.Value.Content.Get(fiber.MIMEApplicationJSON); mt != nil && mt.Example != nil {
				b, err := json.Marshal(mt.Example)
				if err != nil {
					return nil, fmt.Errorf("playground: %s example: %w", id, err)
				}
				op.Body = string(b)
			}
		}
		pg.ops[id] = op
		label := tagTitle(doc, o)
		if _, ok := groupOf[label]; !ok {
			groupOf[label] = len(pg.groups)
			pg.groups = append(pg.groups, playOpGroup{Label: label})
		}
		g := &pg.groups[groupOf[label]]
		g.Ops = append(g.Ops, op)
		if pg.demoUser.Username == "" && op.Demo.Username != "" {
			pg.demoUser = op.Demo
		}
		if pg.demoKey == "" {
			pg.demoKey = op.Demo.APIKey
		}
		if pg.body == "" && op.TakesBody() {
			pg.body, pg.bodyOp = op.Body, op.Method+" "+op.Path
		}
	}
	// Now that the first demo user and key are known, complete each route's own.
	for gi := range pg.groups {
		for oi, op := range pg.groups[gi].Ops {
			op.Prefill = pg.demoFor(op)
			pg.groups[gi].Ops[oi], pg.ops[op.ID] = op, op
		}
	}
	pg.first = pg.ops[playableOps[0]]
	return pg, nil
}

// defaultAuth is the method an operation's first security requirement names.
func defaultAuth(o apidoc.Operation) string {
	if o.Security != nil {
		for _, req := range *o.Security {
			for name := range req {
				switch name {
				case "basicAuth":
					return authBasic
				case "bearerAuth", "apiKeyHeader":
					return authAPIKey
				case "oauth2Password":
					return authToken
				}
			}
		}
	}
	return authSession // the session routes, and POST /login which starts one
}

// demoFor is what the form is prefilled with for op: its own demo credentials,
// else the first ones the document has.
func (pg *playground) demoFor(op playOp) apidoc.Demo {
	d := op.Demo
	if d.Username == "" {
		d.Username, d.Password = pg.demoUser.Username, pg.demoUser.Password
	}
	if d.APIKey == "" {
		d.APIKey = pg.demoKey
	}
	return d
}

// playInput is a validated playground form.
type playInput struct {
	Op       playOp
	Auth     string
	Username string
	Password string
	APIKey   string
	KeyIn    string
	Body     string
	// accessToken is the token the token method's first step got, for the call.
	accessToken string
	// tokens are what the token method's steps got, masked wherever they show.
	tokens []string
	// Code is the second factor of a user who has one (a TOTP code or a recovery
	// code), for the session method's second step (playground_totp.go).
	Code string
}

// bindPlayground reads and checks the form. What it refuses never reaches the app:
// the person sees the field at fault, inline.
func (pg *playground) bind(c *fiber.Ctx) (playInput, error) {
	if !isForm(c) {
		return playInput{}, unsupportedMediaType("a form")
	}
	in := playInput{
		Auth:     c.FormValue("auth"),
		Username: c.FormValue("username"),
		Password: c.FormValue("password"),
		APIKey:   strings.TrimSpace(c.FormValue("api_key")),
		KeyIn:    c.FormValue("key_in"),
		Body:     c.FormValue("body"),
		Code:     strings.TrimSpace(c.FormValue("code")),
	}
	var fields []apperr.FieldError
	bad := func(field, msg string) { fields = append(fields, apperr.FieldError{Field: field, Message: msg}) }

	op, ok := pg.ops[c.FormValue("op")]
	if !ok {
		bad("op", "must be one of the listed endpoints")
	}
	in.Op = op
	if !validAuth(in.Auth) {
		bad("auth", "must be HTTP Basic, API key, Session cookie or OAuth 2.0 token")
	} else if ok && op.Login() && in.Auth != authSession {
		bad("auth", "must be Session cookie: POST /login is how a session starts, with the username and password in its body")
	}
	if in.KeyIn == "" {
		in.KeyIn = keyInBearer
	} else if in.KeyIn != keyInBearer && in.KeyIn != keyInHeader {
		bad("key_in", "must be Authorization: Bearer or X-API-Key")
	}
	switch in.Auth {
	case authBasic, authSession, authToken:
		switch {
		case in.Username == "":
			bad("username", "is required")
		case len(in.Username) > playMaxField || !printable(in.Username):
			bad("username", fmt.Sprintf("must be at most %d printable characters", playMaxField))
		case in.Auth == authBasic && strings.Contains(in.Username, ":"):
			bad("username", "must not contain a colon: Basic joins username and password with one")
		}
		switch {
		case in.Password == "":
			bad("password", "is required")
		case len(in.Password) > playMaxField || !utf8.ValidString(in.Password):
			bad("password", fmt.Sprintf("must be at most %d bytes of UTF-8", playMaxField))
		}
	case authAPIKey:
		switch {
		case in.APIKey == "":
			bad("api_key", "is required")
		case len(in.APIKey) > playMaxField || !headerToken(in.APIKey):
			bad("api_key", fmt.Sprintf("must be at most %d visible ASCII characters, without spaces", playMaxField))
		}
	}
	if len(in.Code) > maxRecoveryCodeBytes || !printable(in.Code) {
		bad("code", fmt.Sprintf("must be at most %d printable characters", maxRecoveryCodeBytes))
	}
	if len(in.Body) > playMaxBody {
		bad("body", fmt.Sprintf("must be at most %d KiB", playMaxBody>>10))
	}
	if len(fields) > 0 {
		return in, apperr.Validation("Validation error", fields...)
	}
	return in, nil
}

func validAuth(id string) bool {
	return slices.ContainsFunc(playAuths, func(a playAuth) bool { return a.ID == id })
}

// printable reports whether s is UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// headerToken reports whether s can go into a header as it is: visible ASCII only.
func headerToken(s string) bool {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// headerLine is one header of a request or response as the page shows it.
type headerLine struct{ Name, Value string }

// shownRequest is a request as it went to the app, secrets masked.
type shownRequest struct {
	Method  string
	Path    string
	Headers []headerLine
	Body    string
	Notes   []string // how to read the masked parts
}

// shownResponse is the app's whole answer.
type shownResponse struct {
	Status  int
	Headers []headerLine
	Body    string
	Took    time.Duration
}

// StatusText is the status line's reason phrase.
func (r shownResponse) StatusText() string { return http.StatusText(r.Status) }

// Class is the CSS class of the status: ok, denied, limited or failed.
func (r shownResponse) Class() string {
	switch {
	case r.Status < 300:
		return "ok"
	case r.Status == fiber.StatusTooManyRequests:
		return "limited"
	case r.Status < 500:
		return "denied"
	}
	return "failed"
}

// TookText is the time the app took, for people.
func (r shownResponse) TookText() string {
	return fmt.Sprintf("%.1f ms", float64(r.Took.Microseconds())/1000)
}

// exchangeStep is a call made around the one shown: the session method's login
// before it and logout after it.
type exchangeStep struct {
	Call   string // "POST /login"
	Status int
	Note   string
	Shown  bool // the step whose request and response the exchange shows
}

// exchange is one try in the playground: what was sent, what came back, why, and
// how to do it again with curl.
type exchange struct {
	ID       string // unique in the page, for element ids
	Op       playOp
	Auth     string // how it authenticated, in words
	At       time.Time
	ClientIP string
	Request  shownRequest
	Response shownResponse
	Steps    []exchangeStep
	JWT      *decodedJWT // the token method's access token, decoded
	Message  string      // the error envelope's message, when it is an error
	Why      string      // what the status means here, in one line
	Curl     string
}

// innerCall is a request for the app's own handler; Headers are in the order sent.
type innerCall struct {
	Method  string
	Path    string
	Headers []headerLine
	Body    []byte
}

// innerResult is the app's answer to an innerCall.
type innerResult struct {
	status  int
	headers []headerLine
	body    []byte
	cookies map[string]string // Set-Cookie values by name
	took    time.Duration
}

// serveInner hands call to the app's own handler, as if the person's browser had
// sent it from the same address: the limiter and the throttle count it against
// that client, not against the server. The computed client IP becomes the peer
// address and no X-Forwarded-For is sent, so clientIP gives the same answer inside
// as outside, with or without TRUSTED_PROXIES. The request gets a fresh fasthttp
// context and Fiber its own Ctx from the pool: the outer request's Ctx is not
// touched.
func (s *server) serveInner(c *fiber.Ctx, call innerCall) innerResult {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(call.Method)
	req.SetRequestURI(call.Path)
	for _, h := range call.Headers {
		switch h.Name {
		case fiber.HeaderHost:
			req.Header.SetHost(h.Value)
		case fiber.HeaderContentLength: // SetBody sets it
		default:
			req.Header.Add(h.Name, h.Value)
		}
	}
	if call.Body != nil {
		req.SetBody(call.Body)
	}
	peer := &net.TCPAddr{IP: net.ParseIP(s.clientIP(c))}
	fctx := new(fasthttp.RequestCtx)
	fctx.Init(req, peer, nil)

	start := time.Now()
	s.serve(fctx)
	took := time.Since(start)

	resp := &fctx.Response
	res := innerResult{status: resp.StatusCode(), body: bytes.Clone(resp.Body()), took: took, cookies: map[string]string{}}
	resp.Header.VisitAll(func(k, v []byte) {
		res.headers = append(res.headers, headerLine{Name: string(k), Value: string(v)})
	})
	if !slices.ContainsFunc(res.headers, func(h headerLine) bool { return h.Name == fiber.HeaderContentLength }) {
		res.headers = append(res.headers, headerLine{fiber.HeaderContentLength, fmt.Sprint(len(res.body))})
	}
	resp.Header.VisitAllCookie(func(k, v []byte) {
		ck := fasthttp.AcquireCookie()
		defer fasthttp.ReleaseCookie(ck)
		if ck.ParseBytes(v) == nil {
			res.cookies[string(k)] = string(ck.Value())
		}
	})
	return res
}

// callFor builds the request for op, authenticated as in says; cookie is the
// session to send ("" for none).
func (s *server) callFor(c *fiber.Ctx, in playInput, op playOp, cookie string, n int) innerCall {
	call := innerCall{Method: op.Method, Path: op.Path, Headers: []headerLine{
		{fiber.HeaderHost, string(c.Request().Host())},
		{fiber.HeaderUserAgent, "fiberauth-playground"},
		{fiber.HeaderAccept, fiber.MIMEApplicationJSON},
		// The outer request's ID plus a step number ties the calls to it in the logs.
		{fiber.HeaderXRequestID, fmt.Sprintf("%s-%d", requestID(c), n)},
	}}
	add := func(name, value string) { call.Headers = append(call.Headers, headerLine{name, value}) }
	switch {
	case op.Login():
		// The credentials are the body; no other credential goes with it.
	case in.Auth == authBasic:
		add(fiber.HeaderAuthorization, "Basic "+base64.StdEncoding.EncodeToString([]byte(in.Username+":"+in.Password)))
	case in.Auth == authAPIKey && in.KeyIn == keyInHeader:
		add(headerAPIKey, in.APIKey)
	case in.Auth == authAPIKey:
		add(fiber.HeaderAuthorization, "Bearer "+in.APIKey)
	case in.Auth == authToken:
		add(fiber.HeaderAuthorization, "Bearer "+in.accessToken)
	}
	switch {
	case op.Login():
		call.Body, _ = json.Marshal(credentials{Username: in.Username, Password: in.Password})
	case op.TakesBody():
		call.Body = []byte(in.Body)
	}
	if call.Body != nil {
		add(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		add(fiber.HeaderContentLength, fmt.Sprint(len(call.Body)))
	}
	if cookie != "" {
		add(fiber.HeaderCookie, sessions.CookieName+"="+cookie)
	}
	return call
}

// try makes the calls a playground form asks for and describes the exchange. For
// the session method it first logs in through POST /login (as a client would),
// sends the call with the new session's cookie, and logs that throwaway session
// out again, so trying the playground leaves no session behind.
func (s *server) try(c *fiber.Ctx, in playInput) exchange {
	ex := exchange{ID: "ex-" + strings.ToLower(rand.Text()[:10]), Op: in.Op, At: time.Now(),
		ClientIP: s.clientIP(c), Auth: authWords(in)}
	// For the curl command: the Host the browser used (not X-Forwarded-Host, which
	// any client can send), as the home page's examples do.
	base := c.Protocol() + "://" + string(c.Request().Host())
	login := s.playground.ops["login"]
	logout := s.playground.ops["logout"]

	// Each call's request ID is the outer one plus its number, so the log lines of
	// one try can be found together.
	n := 0
	next := func() int { n++; return n }

	if in.Auth == authToken {
		return s.tryWithToken(c, in, ex, base, next)
	}

	cookie := ""
	if in.Auth == authSession && !in.Op.Login() {
		loginCall := s.callFor(c, in, login, "", next())
		res := s.serveInner(c, loginCall)
		shownCall, shownOp := loginCall, login
		if res.status == fiber.StatusAccepted { // a second factor: playground_totp.go
			var steps []exchangeStep
			steps, shownCall, res, shownOp = s.playSecondStep(c, in, login, loginCall, res, next)
			ex.Steps = append(ex.Steps, steps...)
		}
		cookie = res.cookies[sessions.CookieName]
		if res.status != fiber.StatusOK || cookie == "" {
			// No session, so the call is not made: the failed login is the answer.
			switch {
			case len(ex.Steps) == 0:
				ex.Steps = append(ex.Steps, exchangeStep{Call: login.Method + " " + login.Path, Status: res.status,
					Note: "the login failed, so this is the answer shown", Shown: true})
			case shownOp.ID == verifyOp.ID: // the code was refused
				last := &ex.Steps[len(ex.Steps)-1]
				last.Note, last.Shown = "the code was refused, so this is the answer shown", true
			}
			ex.Steps = append(ex.Steps, exchangeStep{Call: in.Op.Method + " " + in.Op.Path, Note: "not sent: there is no session to send it with"})
			describeExchange(&ex, base, in, shownCall, res, shownOp)
			return ex
		}
		if len(ex.Steps) == 0 {
			ex.Steps = append(ex.Steps, exchangeStep{Call: login.Method + " " + login.Path, Status: res.status})
		}
		ex.Steps[len(ex.Steps)-1].Note = "a throwaway session for " + in.Username
	}

	call := s.callFor(c, in, in.Op, cookie, next())
	res := s.serveInner(c, call)
	shownOp := in.Op
	if in.Op.Login() && res.status == fiber.StatusAccepted { // a second factor: playground_totp.go
		var steps []exchangeStep
		steps, call, res, shownOp = s.playSecondStep(c, in, in.Op, call, res, next)
		ex.Steps = append(ex.Steps, steps...)
		if shownOp.ID == verifyOp.ID {
			ex.Steps[len(ex.Steps)-1].Note, ex.Steps[len(ex.Steps)-1].Shown = "shown below", true
		}
	} else {
		ex.Steps = append(ex.Steps, exchangeStep{Call: in.Op.Method + " " + in.Op.Path, Status: res.status, Note: "shown below", Shown: true})
	}
	describeExchange(&ex, base, in, call, res, shownOp)

	if in.Op.Login() {
		cookie = res.cookies[sessions.CookieName]
	}
	if cookie != "" && in.Op.ID != logout.ID {
		end := s.serveInner(c, s.callFor(c, in, logout, cookie, next()))
		ex.Steps = append(ex.Steps, exchangeStep{Call: logout.Method + " " + logout.Path, Status: end.status,
			Note: "the throwaway session is ended"})
	}
	if len(ex.Steps) == 1 {
		ex.Steps = nil // a single call needs no list of steps
	}
	return ex
}

// describeExchange fills in the shown request and response, the explanation and the curl
// command, with every secret masked.
func describeExchange(ex *exchange, base string, in playInput, call innerCall, res innerResult, op playOp) {
	mask := masker(in)
	req := shownRequest{Method: call.Method, Path: call.Path}
	for _, h := range call.Headers {
		v := h.Value
		switch {
		case h.Name == fiber.HeaderAuthorization && strings.HasPrefix(v, "Basic "):
			v = "Basic " + masked
			req.Notes = append(req.Notes, `Authorization is Basic base64("`+in.Username+`:" + password), masked here.`)
		case h.Name == fiber.HeaderAuthorization && strings.HasPrefix(v, "Bearer ") && in.Auth == authToken:
			v = "Bearer " + masked
			req.Notes = append(req.Notes, "The bearer token is the access token the first step got (decoded below), masked here.")
		case h.Name == fiber.HeaderAuthorization && strings.HasPrefix(v, "Bearer "):
			v = "Bearer " + masked
			req.Notes = append(req.Notes, "The bearer token is your API key, masked here.")
		case h.Name == headerAPIKey:
			v = masked
			req.Notes = append(req.Notes, "X-API-Key is your API key, masked here.")
		case h.Name == fiber.HeaderCookie && strings.HasPrefix(v, pendingCookie+"="):
			v = pendingCookie + "=" + masked
			req.Notes = append(req.Notes, "The cookie names the pending login that POST /login started (it authenticates nothing else), masked here.")
		case h.Name == fiber.HeaderCookie:
			v = sessions.CookieName + "=" + masked
			req.Notes = append(req.Notes, "The cookie is the session the login step started, masked here.")
		}
		req.Headers = append(req.Headers, headerLine{h.Name, mask(v)})
	}
	if op.Login() {
		b, _ := json.Marshal(credentials{Username: in.Username, Password: masked})
		req.Body = string(b)
		req.Notes = append(req.Notes, "The password in the body is masked here.")
	} else {
		req.Body = mask(string(call.Body))
	}
	ex.Request = req

	resp := shownResponse{Status: res.status, Took: res.took, Body: mask(prettyJSON(res.body))}
	for _, h := range res.headers {
		v := h.Value
		if h.Name == fiber.HeaderSetCookie {
			v = maskCookie(v)
		}
		resp.Headers = append(resp.Headers, headerLine{h.Name, mask(v)})
	}
	ex.Response = resp

	var env errorBody
	if json.Unmarshal(res.body, &env) == nil && env.Error.Type != "" {
		ex.Message = env.Error.Message
	}
	ex.Why = explainStatus(res.status, ex.Message)
	ex.Curl = mask(curlFor(base, in, op, call))
}

// masked stands for a secret on the page.
const masked = "••••••••"

// masker replaces the password and the key wherever they would show. The request
// and the curl command are built without them in the first place; this is the
// second line, for an answer or a body that happens to contain one. Very short
// values are left alone: they would mask innocent text and protect nothing.
func masker(in playInput) func(string) string {
	var secrets []string
	for _, sec := range append([]string{in.Password, in.APIKey}, in.tokens...) {
		if len(sec) >= 4 {
			secrets = append(secrets, sec)
		}
	}
	return func(s string) string {
		for _, sec := range secrets {
			s = strings.ReplaceAll(s, sec, masked)
		}
		return s
	}
}

// maskCookie hides the value of a Set-Cookie header, keeping its attributes.
func maskCookie(v string) string {
	name, rest, ok := strings.Cut(v, "=")
	if !ok {
		return v
	}
	if _, attrs, ok := strings.Cut(rest, ";"); ok {
		return name + "=" + masked + ";" + attrs
	}
	return name + "=" + masked
}

// prettyJSON indents a JSON body for reading; anything else is shown as it came.
func prettyJSON(b []byte) string {
	var out bytes.Buffer
	if json.Valid(b) && json.Indent(&out, b, "", "  ") == nil {
		return out.String()
	}
	return string(b)
}

// authWords says how a call authenticated.
func authWords(in playInput) string {
	switch {
	case in.Op.Login():
		return "Session login as " + in.Username
	case in.Auth == authBasic:
		return "HTTP Basic as " + in.Username
	case in.Auth == authAPIKey && in.KeyIn == keyInHeader:
		return "API key in X-API-Key"
	case in.Auth == authAPIKey:
		return "API key as a bearer token"
	case in.Auth == authToken:
		return "OAuth 2.0 access token (password grant) for " + in.Username
	}
	return "Session cookie, logged in as " + in.Username
}

// explainStatus says in one line what an answer means, by its message where that
// is more precise than its status.
func explainStatus(status int, message string) string {
	switch message {
	case "Invalid credentials":
		return "The username or password is wrong. An unknown user gets the same answer, in the same time, so nobody can probe for usernames."
	case "Not authenticated":
		return "No credentials this route accepts were sent. WWW-Authenticate, when present, names the scheme it wants."
	case "Invalid API Key":
		return "The key is unknown, revoked or expired."
	case "Invalid token":
		return "The access token is expired, not yet valid, of another issuer, signed with an unknown key or algorithm, tampered with, or its family or the user's access has ended."
	case "API key required":
		return "This route wants an API key, in Authorization: Bearer or X-API-Key, and got none."
	case "Too many failed logins; try again later":
		return "Too many failed logins for this username from your address: the throttle refuses even the right password until Retry-After seconds have passed."
	case mfa.ErrWrongCode.Message:
		return "The code is wrong, or was used already (a code is accepted once). Five wrong codes end the pending login."
	case "Rate limit exceeded":
		return "Too many requests from your address in this window: wait the Retry-After seconds."
	}
	switch {
	case status == fiber.StatusAccepted:
		return "The password is right, but the user has a second factor: POST /login/verify with a code from their authenticator app finishes the login."
	case status == fiber.StatusOK || status == fiber.StatusCreated || status == fiber.StatusNoContent:
		return "Success: the route accepted the credentials and answered."
	case status == fiber.StatusBadRequest:
		return "The request is malformed: the body is not valid JSON, or a credential was sent twice."
	case status == fiber.StatusForbidden:
		return "Authenticated, but not allowed: the user's role or the key's permissions do not cover this route."
	case status == fiber.StatusUnauthorized:
		return "Not authenticated: the route did not accept the credentials sent."
	case status == fiber.StatusUnsupportedMediaType:
		return "The route reads only JSON bodies."
	case status == fiber.StatusUnprocessableEntity:
		return "Well-formed, but a field breaks a rule: details names it."
	case status == fiber.StatusTooManyRequests:
		return "Too many requests: wait the Retry-After seconds."
	case status >= 500:
		return "A fault on the server's side; the request ID finds it in the logs."
	}
	return http.StatusText(status) + "."
}

// curlFor is a curl command that makes the same call. Secrets are shell variables,
// never inline, so the command can be copied, shared and kept in a shell history.
func curlFor(base string, in playInput, op playOp, call innerCall) string {
	var lines []string
	secret := "PASSWORD"
	if in.Auth == authAPIKey && !op.Login() {
		secret = "API_KEY"
	}
	lines = append(lines, "# Set "+secret+" first: read -rs "+secret+" (then type it; nothing is shown or kept in your history)")

	loginCmd := "curl -s -c jar -H " + shellDouble("Content-Type: application/json") +
		" -d '{\"username\":" + shellSingleInner(jsonString(in.Username)) + ",\"password\":\"'\"$PASSWORD\"'\"}' " + base + "/login"
	logoutCmd := "curl -s -b jar -X POST " + base + "/logout"
	switch {
	case op.Login():
		lines = append(lines, strings.Replace(loginCmd, "curl -s ", "curl -i ", 1), logoutCmd+"   # end the session again")
		return strings.Join(lines, "\n")
	case in.Auth == authSession:
		lines = append(lines, loginCmd)
	}

	if in.Auth == authToken {
		lines = append(lines, "TOKEN=$(curl -s -d grant_type=password --data-urlencode username="+shellSingle(in.Username)+
			` --data-urlencode "password=$PASSWORD" `+base+`/token | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')`)
	}
	cmd := []string{"curl -i"}
	if op.Method != fiber.MethodGet {
		cmd = append(cmd, "-X "+op.Method)
	}
	switch {
	case in.Auth == authBasic:
		cmd = append(cmd, "-u "+shellDouble(in.Username+":", "$PASSWORD"))
	case in.Auth == authAPIKey && in.KeyIn == keyInHeader:
		cmd = append(cmd, `-H "X-API-Key: $API_KEY"`)
	case in.Auth == authAPIKey:
		cmd = append(cmd, `-H "Authorization: Bearer $API_KEY"`)
	case in.Auth == authSession:
		cmd = append(cmd, "-b jar")
	case in.Auth == authToken:
		cmd = append(cmd, `-H "Authorization: Bearer $TOKEN"`)
	}
	if call.Body != nil {
		cmd = append(cmd, "-H "+shellDouble("Content-Type: application/json"), "-d "+shellSingle(string(call.Body)))
	}
	cmd = append(cmd, base+op.Path)
	lines = append(lines, strings.Join(cmd, " "))
	if in.Auth == authSession && op.ID != "logout" {
		lines = append(lines, logoutCmd+"   # end the session again")
	}
	return strings.Join(lines, "\n")
}

// shellSingle quotes s for a POSIX shell: nothing inside single quotes is special
// but the quote itself, written as '\”.
func shellSingle(s string) string { return "'" + shellSingleInner(s) + "'" }

func shellSingleInner(s string) string { return strings.ReplaceAll(s, "'", `'\''`) }

// shellDouble quotes the literal s in double quotes, escaping what the shell would
// expand there, and appends vars (shell syntax such as $PASSWORD) inside the quotes.
func shellDouble(s string, vars ...string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(s) + strings.Join(vars, "") + `"`
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
