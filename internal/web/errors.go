package web

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
)

// errorTypes is the one mapping from status to the envelope's "type".
var errorTypes = map[int]string{
	fiber.StatusBadRequest:                  "bad_request_error",
	fiber.StatusUnauthorized:                "authentication_error",
	fiber.StatusForbidden:                   "authorization_error",
	fiber.StatusNotFound:                    "not_found_error",
	fiber.StatusMethodNotAllowed:            "method_not_allowed_error",
	fiber.StatusRequestTimeout:              "request_timeout_error",
	fiber.StatusConflict:                    "conflict_error",
	fiber.StatusRequestEntityTooLarge:       "payload_too_large_error",
	fiber.StatusUnsupportedMediaType:        "unsupported_media_type_error",
	fiber.StatusUnprocessableEntity:         "validation_error",
	fiber.StatusTooManyRequests:             "rate_limit_error",
	fiber.StatusRequestHeaderFieldsTooLarge: "request_header_fields_too_large_error",
	fiber.StatusInternalServerError:         "internal_error",
	fiber.StatusServiceUnavailable:          "service_unavailable_error",
}

// kindStatus maps the domain's error kinds to HTTP.
var kindStatus = map[apperr.Kind]int{
	apperr.KindInternal:         fiber.StatusInternalServerError,
	apperr.KindBadRequest:       fiber.StatusBadRequest,
	apperr.KindUnauthenticated:  fiber.StatusUnauthorized,
	apperr.KindForbidden:        fiber.StatusForbidden,
	apperr.KindNotFound:         fiber.StatusNotFound,
	apperr.KindConflict:         fiber.StatusConflict,
	apperr.KindValidation:       fiber.StatusUnprocessableEntity,
	apperr.KindRateLimited:      fiber.StatusTooManyRequests,
	apperr.KindUnavailable:      fiber.StatusServiceUnavailable,
	apperr.KindUnsupportedMedia: fiber.StatusUnsupportedMediaType,
}

// errorBody is the envelope every JSON client sees.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Message    string              `json:"message"`
	Type       string              `json:"type"`
	StatusCode int                 `json:"status_code"`
	Details    []apperr.FieldError `json:"details,omitempty"`
	RequestID  string              `json:"request_id,omitempty"`
}

// describe turns any error into what the client may see. Only our own messages are
// shown; Fiber's and fasthttp's (which can quote internals) are replaced by the
// status text, and every 5xx gets one generic message.
func describe(err error) errorDetail {
	var ae *apperr.Error
	var fe *fiber.Error
	d := errorDetail{StatusCode: fiber.StatusInternalServerError}
	switch {
	case errors.As(err, &ae):
		d.StatusCode = kindStatus[ae.Kind]
		d.Message, d.Details = ae.Message, ae.Fields
	case errors.As(err, &fe):
		d.StatusCode = fe.Code
		d.Message = fiberMessage(fe.Code)
	}
	if d.StatusCode == 0 || d.StatusCode >= 500 && d.StatusCode != fiber.StatusServiceUnavailable {
		d.StatusCode = fiber.StatusInternalServerError
		d.Message = "Internal server error"
	}
	if d.Message == "" {
		d.Message = http.StatusText(d.StatusCode)
	}
	d.Type = errorTypes[d.StatusCode]
	if d.Type == "" {
		d.Type = "bad_request_error"
	}
	return d
}

func fiberMessage(status int) string {
	switch status {
	case fiber.StatusNotFound:
		return "Not found"
	case fiber.StatusMethodNotAllowed:
		return "Method not allowed"
	case fiber.StatusRequestEntityTooLarge:
		return "Request body too large"
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return "Request headers too large"
	}
	return http.StatusText(status)
}

// handleError is the app's only ErrorHandler: it logs server-side failures with
// their cause and answers with the envelope (or, for browsers, an error page).
func (s *server) handleError(c *fiber.Ctx, err error) error {
	d := describe(err)
	if d.StatusCode >= 500 {
		d.RequestID = requestID(c)
		s.log.ErrorContext(c.UserContext(), "request failed", "request_id", d.RequestID,
			"method", c.Method(), "path", c.Path(), "status", d.StatusCode, "err", err)
	}
	if d.StatusCode == fiber.StatusTooManyRequests && len(c.Response().Header.Peek(fiber.HeaderRetryAfter)) == 0 {
		c.Set(fiber.HeaderRetryAfter, "60")
	}
	c.Status(d.StatusCode)
	// A request that offers Basic or API-key credentials is an API client: it gets the
	// envelope (and its WWW-Authenticate) whatever it accepts.
	if s.renderErrorPage != nil && wantsHTML(c) && !hasBasic(c) && !hasAPIKey(c) {
		rerr := s.renderErrorPage(c, err, d)
		if rerr == nil {
			return nil
		}
		s.log.ErrorContext(c.UserContext(), "rendering an error page failed", "request_id", requestID(c), "err", rerr)
		c.Status(d.StatusCode)
	}
	if d.StatusCode != fiber.StatusUnprocessableEntity {
		d.Details = nil // the envelope lists fields for 422 only (design.md); forms may use them for any status
	}
	return c.JSON(errorBody{Error: d})
}

// wantsHTML reports whether the client is a browser that should get HTML: htmx, a
// form post, or a navigation that prefers text/html over JSON.
func wantsHTML(c *fiber.Ctx) bool {
	if c.Get("HX-Request") == "true" {
		return true
	}
	ct := c.Get(fiber.HeaderContentType)
	if c.Method() == fiber.MethodPost && (hasMediaType(ct, fiber.MIMEApplicationForm) || hasMediaType(ct, fiber.MIMEMultipartForm)) {
		return true
	}
	return c.Accepts(fiber.MIMEApplicationJSON, fiber.MIMETextHTML) == fiber.MIMETextHTML &&
		c.Get(fiber.HeaderAccept) != ""
}
