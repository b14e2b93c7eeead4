package web

import (
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
)

const localRequestID = "requestid"

// validRequestID is what we accept as a caller-supplied X-Request-ID; anything else
// is replaced, so a client cannot inject text into our logs.
var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// sanitizeRequestID drops an incoming X-Request-ID we would not want in a log line.
func sanitizeRequestID(c *fiber.Ctx) error {
	if id := c.Get(fiber.HeaderXRequestID); id != "" && !validRequestID.MatchString(id) {
		c.Request().Header.Del(fiber.HeaderXRequestID)
	}
	return c.Next()
}

func requestID(c *fiber.Ctx) string {
	id, _ := c.Locals(localRequestID).(string)
	return id
}

// accessLog turns a returned error into its response right away (so the status is
// final) and writes one line per request. It logs no header values, cookies, bodies
// or query strings: they can hold credentials.
func (s *server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	took := time.Since(start)
	route, method := s.routeTable.labels(c)
	s.observe.Request(route, method, c.Response().StatusCode(), took)
	s.log.InfoContext(c.UserContext(), "request",
		"request_id", requestID(c),
		"method", c.Method(),
		"path", c.Path(),
		"status", c.Response().StatusCode(),
		"latency_ms", float64(took.Microseconds())/1000,
		"client_ip", s.clientIP(c),
	)
	return nil
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the nearest
// address in X-Forwarded-For that is not itself a trusted proxy. Walking from the
// right matters: the left end of the header is whatever the client wrote.
func (s *server) clientIP(c *fiber.Ctx) string {
	// Asked by the access log, the limiter, its storage check, the throttle and the
	// audit log: work it out once per request.
	if ip, ok := c.Locals(localClientIP).(string); ok {
		return ip
	}
	ip := s.resolveClientIP(c)
	c.Locals(localClientIP, ip)
	return ip
}

const localClientIP = "client_ip"

func (s *server) resolveClientIP(c *fiber.Ctx) string {
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	peer = peer.Unmap()
	if len(s.trusted) == 0 || !s.isTrusted(peer) {
		return peer.String()
	}
	// A proxy may append its own X-Forwarded-For line instead of extending the
	// client's: read every line, in order, so the right end is still the proxy's.
	var lines []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		lines = append(lines, string(v))
	}
	hops := strings.Split(strings.Join(lines, ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		addr, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		addr = addr.Unmap()
		if !s.isTrusted(addr) {
			return addr.String()
		}
		peer = addr
	}
	return peer.String()
}

// clientKey is the client a limit counts, given its address: the address itself
// for IPv4, but the /64 for IPv6, which is the block one subscriber or LAN is
// given, so one host can send from 2^64 addresses. An IPv4-mapped address stays
// as it is: its /64 would be every IPv4 client at once.
func clientKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || !addr.Is6() || addr.Is4In6() {
		return ip
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

func (s *server) isTrusted(addr netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// parseTrustedProxies reads TRUSTED_PROXIES entries (CIDRs or single addresses).
func parseTrustedProxies(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, entry := range list {
		if p, err := netip.ParsePrefix(entry); err == nil {
			out = append(out, p.Masked())
		} else if a, err := netip.ParseAddr(entry); err == nil {
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out
}

// singleCredential refuses a request that carries a credential header twice: picking
// one would let a proxy and this service disagree about who the client is.
func singleCredential(c *fiber.Ctx) error {
	for _, h := range []string{fiber.HeaderAuthorization, headerAPIKey} {
		if len(c.Request().Header.PeekAll(h)) > 1 {
			return apperr.New(apperr.KindBadRequest, "Send the "+h+" header only once")
		}
	}
	return c.Next()
}

// noStore keeps responses that depend on who is asking out of every cache.
func noStore(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Next()
}

// authScheme splits an Authorization header into its scheme (lower-cased, as RFC 7235
// makes schemes case-insensitive) and credentials.
func authScheme(header string) (scheme, credentials string) {
	scheme, credentials, _ = strings.Cut(strings.TrimSpace(header), " ")
	return strings.ToLower(scheme), strings.TrimSpace(credentials)
}

// hasMediaType reports whether a Content-Type header names the given media type,
// ignoring parameters and case.
func hasMediaType(contentType, mediaType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), mediaType)
}
