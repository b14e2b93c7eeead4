package web

import (
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
)

// In development (reload) a CSS edit gets a new URL on the next page and is served
// there, and the old URL is gone; otherwise what was read at start-up stays.
func TestStaticFilesReloadInDevelopment(t *testing.T) {
	for _, reload := range []bool{true, false} {
		fsys := fstest.MapFS{
			assetCSS:     {Data: []byte("body{color:red}")},
			assetJS:      {Data: []byte("//js")},
			assetPasskey: {Data: []byte("//passkey")},
			assetHTMX:    {Data: []byte("//htmx")},
			assetIcon:    {Data: []byte("<svg/>")},
		}
		st, err := newStaticFiles(fsys, reload)
		if err != nil {
			t.Fatal(err)
		}
		app := fiber.New()
		app.Get("/static/:hash/*", st.handle)
		get := func(url string) (int, string) {
			resp, err := app.Test(httptest.NewRequest("GET", url, nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b := make([]byte, 64)
			n, _ := resp.Body.Read(b)
			return resp.StatusCode, string(b[:n])
		}
		before := st.urls().CSS
		fsys[assetCSS] = &fstest.MapFile{Data: []byte("body{color:blue}")} // the edit
		after := st.urls().CSS
		if reload {
			if after == before {
				t.Fatal("reload: the edited CSS kept its URL")
			}
			if code, body := get(after); code != 200 || body != "body{color:blue}" {
				t.Errorf("reload: new URL answers %d %q", code, body)
			}
			if code, _ := get(before); code != 404 {
				t.Errorf("reload: old URL answers %d, want 404", code)
			}
		} else {
			if after != before {
				t.Fatal("no reload: the URL changed")
			}
			if code, body := get(before); code != 200 || body != "body{color:red}" {
				t.Errorf("no reload: start-up URL answers %d %q", code, body)
			}
		}
	}
}
