package web

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A request whose length two parsers could read differently is refused with 400 and
// the connection is closed, so bytes after it (a request smuggled past a proxy that
// framed it the other way) are never read as a request. Sent over a raw socket:
// net/http would never send these headers.
func TestAmbiguousFramingIsRefusedAndClosesTheConnection(t *testing.T) {
	base := newTestApp(t, nil).serve(t)
	addr := strings.TrimPrefix(base, "http://")
	const smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
	head := "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	tests := []struct {
		name      string
		raw       string
		wantFirst int // status of the first response
		wantMore  bool
	}{
		{
			name:      "one Content-Length keeps the connection open for the next request",
			raw:       head + "Content-Length: 2\r\n\r\n{}" + smuggled,
			wantFirst: http.StatusMethodNotAllowed,
			wantMore:  true,
		},
		{
			name:      "two different Content-Lengths are refused (the last would win)",
			raw:       head + "Content-Length: " + strconv.Itoa(len(smuggled)) + "\r\ncontent-length: 0\r\n\r\n" + smuggled,
			wantFirst: http.StatusBadRequest,
		},
		{
			name:      "two equal Content-Lengths are refused too",
			raw:       head + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}" + smuggled,
			wantFirst: http.StatusBadRequest,
		},
		{
			name:      "Transfer-Encoding with Content-Length is refused",
			raw:       head + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			wantFirst: http.StatusBadRequest,
		},
		{
			name:      "Content-Length after Transfer-Encoding is refused",
			raw:       head + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n" + smuggled,
			wantFirst: http.StatusBadRequest,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resps, err := rawExchange(t, addr, tt.raw)
			if len(resps) == 0 {
				t.Fatalf("no response (%v)", err)
			}
			first := resps[0]
			if first.status != tt.wantFirst {
				t.Errorf("first response: %d %s, want %d", first.status, first.body, tt.wantFirst)
			}
			if tt.wantMore {
				if len(resps) != 2 || resps[1].status != http.StatusOK {
					t.Errorf("the next request on the connection was not answered: %d responses, %v", len(resps), err)
				}
				return
			}
			if d := envelope(t, first.body); d.Type != "bad_request_error" || d.StatusCode != http.StatusBadRequest {
				t.Errorf("envelope = %+v", d)
			}
			if !first.close {
				t.Error("the 400 does not say Connection: close")
			}
			if len(resps) > 1 {
				t.Errorf("the smuggled request was answered: %d %s", resps[1].status, resps[1].body)
			} else if !closedByPeer(err) {
				t.Errorf("after the 400 the connection was not closed: %v", err)
			}
		})
	}
}

type rawResponse struct {
	status int
	body   string
	close  bool
}

// rawExchange writes raw to a new connection and reads responses until two have come
// or the server closes it. It returns them with the error that ended the reading. The
// deadline only keeps a broken server from hanging the test.
func rawExchange(t *testing.T, addr, raw string) ([]rawResponse, error) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	br := bufio.NewReader(conn)
	var out []rawResponse
	for len(out) < 2 {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return out, err
		}
		out = append(out, rawResponse{status: resp.StatusCode, body: string(b), close: resp.Close})
	}
	return out, nil
}

// closedByPeer reports whether err is the server closing the connection: EOF, or a
// reset if the kernel still held bytes we sent when it closed.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}
