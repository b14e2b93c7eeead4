package web

import (
	"bytes"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
)

var errAmbiguousFraming = apperr.New(apperr.KindBadRequest, "Ambiguous message length: send one Content-Length, or Transfer-Encoding alone")

// refuseAmbiguousFraming answers 400 and closes the connection when a request's
// length could be read two ways: Content-Length more than once (even with equal
// values: no client sends that), or Transfer-Encoding together with Content-Length
// (RFC 9112 §6.3). fasthttp v1.51 takes the last Content-Length, and Transfer-Encoding
// over any Content-Length, so a proxy in front that reads the other one sees another
// request boundary: bytes it forwarded as one request's body would be our next
// request. Closing the connection means nothing after this request is ever parsed.
// The parsed headers cannot tell (fasthttp keeps one length), so this reads the raw
// ones.
func refuseAmbiguousFraming(c *fiber.Ctx) error {
	lengths, encodings := 0, 0
	for raw := c.Request().Header.RawHeaders(); len(raw) > 0; {
		var line []byte
		line, raw, _ = bytes.Cut(raw, []byte("\n"))
		if len(line) == 0 || line[0] == ' ' || line[0] == '\t' {
			continue // a continuation line or the final blank line: no header name
		}
		name, _, ok := bytes.Cut(line, []byte(":"))
		switch {
		case !ok:
		case bytes.EqualFold(name, []byte(fiber.HeaderContentLength)):
			lengths++
		case bytes.EqualFold(name, []byte(fiber.HeaderTransferEncoding)):
			encodings++
		}
	}
	if lengths > 1 || lengths > 0 && encodings > 0 {
		c.Context().SetConnectionClose()
		return errAmbiguousFraming
	}
	return c.Next()
}
