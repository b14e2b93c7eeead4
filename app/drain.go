package main

import (
	"net"
	"sync"
	"time"
)

// drainListener lets a shutdown stop connections that are only waiting for a
// request. fasthttp's Shutdown closes idle keep-alive connections, but one that was
// never used or is halfway through sending a request counts as active, and holds the
// shutdown until its ReadTimeout (15 s), past SHUTDOWN_TIMEOUT.
//
// Closing the listener drains every connection: its read deadline moves into the past
// and stays there. A connection blocked reading a request then gets a timeout (fasthttp
// answers 408 with Connection: close and closes it, or, between keep-alive requests,
// just closes it); a request whose handler is running reads nothing more, so it
// finishes and writes its response. fasthttp's Shutdown closes the listener right after
// setting its stop flag, so that response already says Connection: close.
type drainListener struct {
	net.Listener

	mu       sync.Mutex
	conns    map[*drainConn]struct{}
	draining bool
}

func newDrainListener(ln net.Listener) *drainListener {
	return &drainListener{Listener: ln, conns: make(map[*drainConn]struct{})}
}

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	dc := &drainConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.draining { // accepted just as the listener closed
		dc.drain()
	}
	l.conns[dc] = struct{}{}
	return dc, nil
}

// Close stops accepting and drains the open connections.
func (l *drainListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.draining = true
	for c := range l.conns {
		c.drain()
	}
	return err
}

func (l *drainListener) forget(c *drainConn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// drainConn is a connection whose reads can be stopped for good: once drained, a read
// deadline fasthttp sets (it sets one before every request) cannot move it back.
type drainConn struct {
	net.Conn
	l *drainListener

	mu      sync.Mutex
	drained bool
}

// expired is a read deadline already past: reads fail at once, without reading.
func expired() time.Time { return time.Unix(1, 0) }

func (c *drainConn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drained = true
	_ = c.Conn.SetReadDeadline(expired()) // fails only on a closed connection
}

func (c *drainConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.drained {
		t = expired()
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *drainConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.drained {
		return c.Conn.SetDeadline(t)
	}
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(expired())
}

func (c *drainConn) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}
