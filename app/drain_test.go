package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"fiberauth/internal/testenv"
)

// slowLogin is a login that spends a while in bcrypt (cost 13: about half a second,
// far more under -race), so it is still in flight when a shutdown starts.
const slowLogin = "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 45\r\n\r\n" +
	`{"username":"sam","password":"slow-password"}`

// On SIGTERM the in-flight request finishes and its response says Connection: close,
// while connections that are only waiting for a request (never used, idle between
// requests, or halfway through sending one) are closed at once: before the in-flight
// login is answered, not when their ReadTimeout (15 s) ends. run returns nil, well
// before SHUTDOWN_TIMEOUT.
func TestShutdownDoesNotWaitForIdleOrHalfSentConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds of bcrypt")
	}
	base, cancel, done := startRun(t, slowLoginEnv(t, "30s"))
	addr := strings.TrimPrefix(base, "http://")

	waiting := map[string]*rawConn{
		"a connection that never sent a request": dialRaw(t, addr, ""),
		"an idle keep-alive connection":          dialRaw(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"),
		"a request with half its headers":        dialRaw(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nAccept: "),
		"a request with half its body":           dialRaw(t, addr, slowLogin[:len(slowLogin)-20]),
	}
	login := dialRaw(t, addr, slowLogin)
	time.Sleep(150 * time.Millisecond) // the login is now inside bcrypt
	start := time.Now()
	cancel()

	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
		t.Logf("run returned %s after the signal", time.Since(start).Round(time.Millisecond))
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return")
	}

	answered := login.wait(t)
	if len(answered.responses) == 0 || answered.responses[0].StatusCode != http.StatusOK {
		t.Fatalf("in-flight login: %v, %v", answered.responses, answered.err)
	}
	if !answered.responses[0].Close {
		t.Error("the in-flight login's response does not say Connection: close, so a keep-alive client would send its next request into a closing connection")
	} else if len(answered.responses) > 1 || !closedByPeer(answered.err) {
		t.Errorf("after the login's response: %d responses, %v; want the server to close the connection", len(answered.responses), answered.err)
	}
	for name, c := range waiting {
		t.Run(name+" is closed at once", func(t *testing.T) {
			got := c.wait(t)
			if !closedByPeer(got.err) {
				t.Errorf("ended with %v, want the server to close it", got.err)
			}
			if !got.end.Before(answered.first) {
				t.Errorf("closed %s after the in-flight login was answered: it held the shutdown", got.end.Sub(answered.first).Round(time.Millisecond))
			}
			for _, r := range got.responses[min(len(got.responses), 1):] {
				t.Errorf("unexpected extra response %d", r.StatusCode)
			}
		})
	}
}

// When a request is still running at SHUTDOWN_TIMEOUT, run says so (exit status 1).
func TestShutdownFailsWhenARequestOutlivesTheTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds of bcrypt")
	}
	base, cancel, done := startRun(t, slowLoginEnv(t, "20ms"))
	dialRaw(t, strings.TrimPrefix(base, "http://"), slowLogin)
	time.Sleep(150 * time.Millisecond) // the login is now inside bcrypt
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "shutdown") {
			t.Errorf("run = %v, want a shutdown error", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("run did not return")
	}
}

// slowLoginEnv is the environment for a server whose user sam logs in slowly.
func slowLoginEnv(t *testing.T, shutdownTimeout string) func(string) string {
	t.Helper()
	getenv := testEnv(t, map[string]string{
		"BCRYPT_COST":      "13",
		"DEMO_DATA":        "false",
		"SHUTDOWN_TIMEOUT": shutdownTimeout,
	})
	if _, err := command(t, getenv, "slow-password\n", "users", "create", "--username", "sam"); err != nil {
		t.Fatal(err)
	}
	return getenv
}

// startRun runs the service and returns its base URL once it listens, the cancel
// that plays SIGTERM, and run's result.
func startRun(t *testing.T, getenv func(string) string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out testenv.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, getenv, strings.NewReader(""), &out) }()
	// Start-up makes a dummy hash at the slow cost too: give it time under -race.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := listeningURL.FindStringSubmatch(out.String()); m != nil {
			return m[1], cancel, done
		}
	}
	t.Fatalf("never listening:\n%s", out.String())
	return "", nil, nil
}

// rawConn is a client connection that wrote some bytes and reads whatever comes back
// until the server closes it.
type rawConn struct {
	result chan rawResult
}

type rawResult struct {
	responses []*http.Response // bodies already read
	first     time.Time        // when the first response arrived
	err       error            // what ended the reading
	end       time.Time        // and when
}

// dialRaw connects, writes raw and reads responses in the background. The deadline
// only keeps a broken server from hanging the test.
func dialRaw(t *testing.T, addr, raw string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	c := &rawConn{result: make(chan rawResult, 1)}
	go func() {
		var r rawResult
		br := bufio.NewReader(conn)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				r.err = err
				break
			}
			if r.first.IsZero() {
				r.first = time.Now()
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			r.responses = append(r.responses, resp)
			if err != nil {
				r.err = err
				break
			}
		}
		r.end = time.Now()
		c.result <- r
	}()
	return c
}

func (c *rawConn) wait(t *testing.T) rawResult {
	t.Helper()
	select {
	case r := <-c.result:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("the connection was never closed")
		return rawResult{}
	}
}

// closedByPeer reports whether err is the server closing the connection: EOF, or a
// reset when it closed with bytes of ours unread.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// The drain's pieces, on in-memory connections: once the listener closes, every
// connection's reads stop at once and nothing fasthttp does afterwards restarts them.
func TestDrainStopsReadsForGood(t *testing.T) {
	tests := []struct {
		name string
		// drain closes ln and starts a read on a connection it accepts, in some order.
		drain func(ln *drainListener, accept func() net.Conn) <-chan error
	}{
		{"a read blocked when the listener closes returns at once", func(ln *drainListener, accept func() net.Conn) <-chan error {
			read := readAsync(accept())
			ln.Close()
			return read
		}},
		{"a read deadline set after the drain does not move it back", func(ln *drainListener, accept func() net.Conn) <-chan error {
			c := accept()
			ln.Close()
			_ = c.SetReadDeadline(time.Now().Add(time.Hour)) // as fasthttp does before each request
			return readAsync(c)
		}},
		{"a deadline set after the drain does not move the read deadline back", func(ln *drainListener, accept func() net.Conn) <-chan error {
			c := accept()
			ln.Close()
			_ = c.SetDeadline(time.Now().Add(time.Hour))
			return readAsync(c)
		}},
		{"a connection accepted as the listener closes is drained too", func(ln *drainListener, accept func() net.Conn) <-chan error {
			ln.Close()
			return readAsync(accept())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl := &pipeListener{conns: make(chan net.Conn, 1)}
			ln := newDrainListener(pl)
			accept := func() net.Conn {
				client, server := net.Pipe()
				t.Cleanup(func() { client.Close(); server.Close() })
				pl.conns <- server
				c, err := ln.Accept()
				if err != nil {
					t.Fatalf("accept: %v", err)
				}
				return c
			}
			select {
			case err := <-tt.drain(ln, accept):
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Errorf("read: %v, want a deadline error", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the read is still waiting")
			}
		})
	}
}

// readAsync reads one byte from c in the background (the peer never writes).
func readAsync(c net.Conn) <-chan error {
	read := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		read <- err
	}()
	return read
}

// pipeListener hands out the connections sent on conns, even after Close, like a
// kernel that had accepted one just before the listener closed.
type pipeListener struct{ conns chan net.Conn }

func (l *pipeListener) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *pipeListener) Close() error              { return nil }
func (l *pipeListener) Addr() net.Addr            { return &net.TCPAddr{} }
