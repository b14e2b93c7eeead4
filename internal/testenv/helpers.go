package testenv

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer that a server may write (logs) while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Request builds a test request; headers come in name, value pairs and are added, so
// a name given twice is sent twice.
func Request(method, path, body string, headers ...string) *http.Request {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// Clock is a clock tests move by hand; pass its Now where code takes a clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock that reads start until it is advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Concurrently runs f(0), ..., f(n-1) in goroutines released together, so that
// they really overlap, and waits for all of them.
func Concurrently(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// Statuses sends n requests at once (send makes and sends the i-th, e.g. through
// an app's Test) and counts the answers by status code.
func Statuses(t testing.TB, n int, send func(i int) (*http.Response, error)) map[int]int {
	t.Helper()
	got := map[int]int{}
	var mu sync.Mutex
	Concurrently(n, func(i int) {
		resp, err := send(i)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
		mu.Lock()
		got[resp.StatusCode]++
		mu.Unlock()
	})
	return got
}
