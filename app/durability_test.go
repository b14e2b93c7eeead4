package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fiberauth/internal/store"
)

// What the service has answered for is on disk: a user, a key and the audit events
// written before a kill -9 are all there when the database is opened again.
func TestNothingIsLostOnKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a real process")
	}
	bin := filepath.Join(t.TempDir(), "fiberauth")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dbPath := filepath.Join(t.TempDir(), "durable.db")
	getenv := testEnv(t, map[string]string{"DATABASE_URL": dbPath, "DEMO_DATA": "true"})
	if _, err := command(t, getenv, "durable-password\n", "users", "create", "--username", "dora"); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "APP_ENV=test", "ADDR=127.0.0.1:0", "BCRYPT_COST=4", "DEMO_DATA=true", "DATABASE_URL="+dbPath, "LOG_FORMAT=text")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := waitForListening(t, stdout)

	if code, _ := postJSON(t, base+"/login", `{"username":"dora","password":"durable-password"}`); code != 200 {
		t.Fatalf("login: %d", code)
	}
	if code, _ := postJSON(t, base+"/login", `{"username":"dora","password":"wrong-password"}`); code != 401 {
		t.Fatalf("failed login: %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	st, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.UserByUsername(t.Context(), "dora")
	if err != nil || u.LastLoginAt == nil {
		t.Errorf("user after kill -9: %+v, %v", u, err)
	}
	events, err := st.ListAudit(t.Context(), "dora", 10)
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for _, e := range events {
		outcomes = append(outcomes, e.Action+":"+e.Outcome)
	}
	if got := strings.Join(outcomes, ","); got != "login:failure,login:success" {
		t.Errorf("audit events after kill -9: %s", got)
	}
}

func waitForListening(t *testing.T, stdout interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listeningURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case <-time.After(15 * time.Second):
		t.Fatal("the binary never said it was listening")
		return ""
	}
}
