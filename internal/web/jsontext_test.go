package web

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"fiberauth/internal/apperr"
)

// Every JSON body is refused with 422 when one of its strings would reach the handler
// changed: encoding/json turns invalid UTF-8 and escaped lone surrogates into U+FFFD.
func TestJSONStringsMustBeFaithful(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "1000"})
	alice := a.client()
	alice.do(t, jsonRequest("POST", "/login", `{"username":"alice","password":"password123"}`))
	bearer := []string{"Authorization", "Bearer sk_test_123"}

	tests := []struct {
		name, path, body string
		headers          []string
		session          bool
		wantField        string // the field the 422 names; "" for a request that is not refused for its text
		wantStatus       int    // when wantField is ""
	}{
		{"a login password with an invalid byte is refused", "/login", "{\"username\":\"alice\",\"password\":\"password\xff123\"}", nil, false, "password", 0},
		{"a login username with a lone high surrogate is refused", "/login", `{"username":"\ud800","password":"password123"}`, nil, false, "username", 0},
		{"a login password with a lone low surrogate is refused", "/login", `{"username":"alice","password":"\udc00password123"}`, nil, false, "password", 0},
		{"a high surrogate followed by another high one is refused", "/login", `{"username":"alice","password":"\ud83d\ud83dpassword"}`, nil, false, "password", 0},
		{"a high surrogate followed by an escaped U+FFFD is refused", "/login", `{"username":"alice","password":"\ud83d\ufffdpassword"}`, nil, false, "password", 0},
		{"an encoded surrogate (ED A0 80) is refused", "/login", "{\"username\":\"alice\",\"password\":\"pass\xed\xa0\x80word\"}", nil, false, "password", 0},
		{"an overlong encoding is refused", "/login", "{\"username\":\"alice\",\"password\":\"pass\xc0\xafword\"}", nil, false, "password", 0},
		{"a member name with an invalid byte is refused as the body", "/login", "{\"user\xffname\":\"alice\",\"password\":\"password123\"}", nil, false, "body", 0},
		{"an invalid byte in a member the handler ignores is refused", "/login", "{\"username\":\"alice\",\"password\":\"password123\",\"x\":\"\xfe\"}", nil, false, "x", 0},
		{"a body that is not UTF-8 at all is refused as the body", "/login", "\xff\xfe{}", nil, false, "body", 0},
		{"a registration password with an invalid byte is refused", "/register", "{\"username\":\"carol\",\"password\":\"pass\xffword1\"}", nil, false, "password", 0},
		{"a key name with a lone surrogate is refused", "/keys", `{"name":"ci\udfff","permissions":["read"]}`, nil, true, "name", 0},
		{"a key permission with an invalid byte is refused", "/keys", "{\"name\":\"ci\",\"permissions\":[\"re\xffad\"]}", nil, true, "permissions", 0},
		{"a new password with an invalid byte is refused", "/account/password", "{\"current_password\":\"password123\",\"new_password\":\"another\xff-pass-1\"}", nil, true, "new_password", 0},
		{"a nested string with an invalid byte names its path", "/apikey/create", "{\"item\":{\"tags\":[\"ok\",\"b\xe9d\"]}}", bearer, false, "item.tags", 0},
		{"a top-level member with a lone surrogate is named", "/apikey/create", `{"name":"widget\ud800"}`, bearer, false, "name", 0},

		{"a valid surrogate pair is accepted", "/login", `{"username":"alice","password":"\ud83d\ude00password"}`, nil, false, "", 401},
		{"a literal U+FFFD is accepted", "/login", "{\"username\":\"alice\",\"password\":\"pass\uFFFDword\"}", nil, false, "", 401},
		{"an escaped U+FFFD is accepted", "/login", `{"username":"alice","password":"pass\ufffdword"}`, nil, false, "", 401},
		{"an escaped backslash before u is no escape", "/apikey/create", `{"name":"\\ud800"}`, bearer, false, "", 200},
		{"non-ASCII UTF-8 in every position is accepted", "/apikey/create", `{"ünï":["çødé","日本語","😀"]}`, bearer, false, "", 200},
		{"malformed JSON is still a 400", "/login", `{"username":"alice",`, nil, false, "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := jsonRequest("POST", tt.path, tt.body, tt.headers...)
			var resp *http.Response
			var body string
			if tt.session {
				resp, body = alice.do(t, req)
			} else {
				resp, body = a.do(t, req)
			}
			if tt.wantField == "" {
				if resp.StatusCode != tt.wantStatus {
					t.Fatalf("got %d %s, want %d", resp.StatusCode, body, tt.wantStatus)
				}
				return
			}
			e := envelope(t, body)
			want := []apperr.FieldError{{Field: tt.wantField, Message: "must be valid UTF-8"}}
			if resp.StatusCode != 422 || e.StatusCode != 422 || e.Type != "validation_error" || !slices.Equal(e.Details, want) {
				t.Errorf("got %d %s, want 422 with details %+v", resp.StatusCode, body, want)
			}
		})
	}
}

// Two passwords that differ only in bytes encoding/json replaces used to be one
// password: the U+FFFD one was stored and the other logged in with it.
func TestPasswordsDifferingInInvalidBytesAreNotTheSame(t *testing.T) {
	a := newTestApp(t, map[string]string{"LOGIN_MAX_FAILURES": "1000"})
	if resp, body := a.do(t, jsonRequest("POST", "/register", "{\"username\":\"carol\",\"password\":\"pass\uFFFDword1\"}")); resp.StatusCode != 201 {
		t.Fatalf("register with a literal U+FFFD: %d %s", resp.StatusCode, body)
	}
	for _, tt := range []struct{ name, password string }{
		{"an FF byte", "pass\xffword1"},
		{"an FE byte", "pass\xfeword1"},
		{"an escaped lone low surrogate", `pass\udc00word1`},
		{"an escaped lone high surrogate", `pass\ud800word1`},
	} {
		t.Run("logging in with "+tt.name+" for the U+FFFD is refused", func(t *testing.T) {
			resp, body := a.do(t, jsonRequest("POST", "/login", `{"username":"carol","password":"`+tt.password+`"}`))
			if resp.StatusCode != 422 {
				t.Errorf("got %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("registering a password with an invalid byte is refused", func(t *testing.T) {
		resp, body := a.do(t, jsonRequest("POST", "/register", "{\"username\":\"dave\",\"password\":\"pass\xffword1\"}"))
		if resp.StatusCode != 422 {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
		if resp, _ := a.do(t, jsonRequest("POST", "/login", "{\"username\":\"dave\",\"password\":\"pass\uFFFDword1\"}")); resp.StatusCode != 401 {
			t.Errorf("dave exists after a refused registration: %d", resp.StatusCode)
		}
	})
	t.Run("the real password still logs in", func(t *testing.T) {
		a.mustLogin(t, "carol", "pass\uFFFDword1")
	})
}

func TestUnfaithfulString(t *testing.T) {
	tests := []struct {
		name, text string
		wantField  string // "" when every string is faithful
	}{
		{"an empty text has no strings", ``, ""},
		{"plain ASCII is faithful", `{"a":"b","c":[1,"d",{"e":"f"}]}`, ""},
		{"escapes other than \\u are faithful", `{"a":"\"\\\/\b\f\n\r\t"}`, ""},
		{"a valid pair in upper case is faithful", `["\uD83D\uDE00"]`, ""},
		{"the last code point before the surrogates is faithful", `["\ud7ff"]`, ""},
		{"the first code point after the surrogates is faithful", `["\ue000"]`, ""},
		{"the last surrogate pair is faithful", `["\udbff\udfff"]`, ""},
		{"a high surrogate before the first code point after the low ones", `{"a":"\udbff\ue000"}`, "a"},
		{"a high surrogate before the last code point before the low ones", `{"a":"\ud800\udbff"}`, "a"},
		{"a lone surrogate at the end of the text", `{"a":"\ud800"}`, "a"},
		{"a high surrogate cut short by the text's end", `{"a":"\ud800\u`, "a"},
		{"a high surrogate followed by an ordinary escape", `{"a":"\ud800\n"}`, "a"},
		{"a high surrogate followed by an ASCII character", `{"a":"\ud800x"}`, "a"},
		{"a reversed pair", `{"a":"\ude00\ud83d"}`, "a"},
		{"an escaped backslash then u is no escape", `{"a":"\\ud800"}`, ""},
		{"an invalid byte in the second member", "{\"a\":\"ok\",\"b\":\"\x80\"}", "b"},
		{"an invalid byte after a nested object closes", "{\"a\":{\"b\":\"ok\"},\"c\":\"\x80\"}", "c"},
		{"an invalid byte deep inside arrays", "{\"a\":[[{\"b\":[\"\xc3\"]}]]}", "a.b"},
		{"an invalid member name inside an object", "{\"a\":{\"\xff\":1}}", "a"},
		{"an invalid member name at the top", "{\"\xff\":1}", "body"},
		{"an invalid string at the top", "\"\xff\"", "body"},
		{"an invalid string in a top-level array", "[\"\xff\"]", "body"},
		{"a truncated multi-byte character", "[\"\xe6\x97\"]", "body"},
		{"an over-long member name is not echoed", "{\"" + strings.Repeat("k", 200) + "\":\"\xff\"}", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			field, found := unfaithfulString([]byte(tt.text))
			if found != (tt.wantField != "") || field != tt.wantField {
				t.Errorf("unfaithfulString(%q) = %q, %v; want %q", tt.text, field, found, tt.wantField)
			}
		})
	}
}

// loginUsername picks the throttle key from the same text the handler accepts.
func TestLoginUsernameRefusesUnfaithfulText(t *testing.T) {
	app := fiber.New()
	tests := []struct{ name, body, want string }{
		{"a faithful body claims its username", `{"username":"alice"}`, "alice"},
		{"an invalid byte claims no one", "{\"username\":\"ali\xffce\"}", ""},
		{"a lone surrogate claims no one", `{"username":"ali\ud800ce"}`, ""},
		{"an invalid byte elsewhere claims no one", "{\"username\":\"alice\",\"password\":\"\xff\"}", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := app.AcquireCtx(&fasthttp.RequestCtx{})
			defer app.ReleaseCtx(c)
			c.Request().Header.SetContentType(fiber.MIMEApplicationJSON)
			c.Request().SetBodyString(tt.body)
			if got := loginUsername(c); got != tt.want {
				t.Errorf("loginUsername = %q, want %q", got, tt.want)
			}
		})
	}
}
