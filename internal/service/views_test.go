package service

import (
	"os"
	"path/filepath"
	"testing"

	"fiberauth/internal/config"
)

func TestViewsFS(t *testing.T) {
	load := func(env string) config.Config {
		t.Helper()
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"APP_ENV": env, "DEMO_DATA": "false", "PUBLIC_URL": "https://auth.example.com",
				"SECRETS_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}[k]
		}, "")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	dir := t.TempDir()
	t.Chdir(dir)

	t.Run("development without a views folder uses the embedded templates", func(t *testing.T) {
		if _, reload := viewsFS(load("development")); reload {
			t.Error("reloads from a folder that is not there")
		}
	})
	if err := os.Mkdir(filepath.Join(dir, "views"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "views", "marker.html"), []byte("on disk"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("development reads the views folder on every render", func(t *testing.T) {
		fsys, reload := viewsFS(load("development"))
		if !reload {
			t.Fatal("no reload in development")
		}
		if _, err := fsys.Open("marker.html"); err != nil {
			t.Errorf("not the folder on disk: %v", err)
		}
	})
	t.Run("production always uses the embedded templates", func(t *testing.T) {
		fsys, reload := viewsFS(load("production"))
		if reload {
			t.Error("reloads in production")
		}
		if _, err := fsys.Open("marker.html"); err == nil {
			t.Error("read the folder on disk in production")
		}
	})
}
