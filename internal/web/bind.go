package web

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/gofiber/fiber/v2"

	"fiberauth/internal/apperr"
)

var (
	errMalformedJSON = apperr.New(apperr.KindBadRequest, "Malformed JSON body")
	errNotJSONObject = apperr.Validation("Validation error", apperr.FieldError{Field: "body", Message: "must be a JSON object"})
)

// unsupportedMediaType answers 415 naming what we accept.
func unsupportedMediaType(accepted string) error {
	return apperr.New(apperr.KindUnsupportedMedia, "Content-Type must be "+accepted)
}

// isJSON reports whether the request body is declared as JSON.
func isJSON(c *fiber.Ctx) bool {
	return hasMediaType(c.Get(fiber.HeaderContentType), fiber.MIMEApplicationJSON)
}

// isForm reports whether the request body is an HTML form.
func isForm(c *fiber.Ctx) bool {
	ct := c.Get(fiber.HeaderContentType)
	return hasMediaType(ct, fiber.MIMEApplicationForm) || hasMediaType(ct, fiber.MIMEMultipartForm)
}

// decodeJSONObject decodes a JSON object body into dst, telling malformed JSON (400)
// from JSON of the wrong shape or with a string encoding/json would alter (422,
// naming the field).
func decodeJSONObject(c *fiber.Ctx, dst any) error {
	body := bytes.TrimSpace(c.Body())
	if err := checkJSONText(body); err != nil {
		return err
	}
	if len(body) == 0 || body[0] != '{' {
		return errNotJSONObject
	}
	if err := json.Unmarshal(body, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return apperr.Validation("Validation error", apperr.FieldError{Field: typeErr.Field, Message: "must be a " + typeErr.Type.String()})
		}
		return errNotJSONObject
	}
	return nil
}

// credentials is a username and password from a JSON body or a form.
type credentials struct {
	Username string `json:"username" form:"username"`
	Password string `json:"password" form:"password"`
}

// bindCredentials reads credentials from JSON (the article's clients) or a form
// (browsers), and insists both fields are present.
func bindCredentials(c *fiber.Ctx) (credentials, error) {
	var cr credentials
	switch {
	case isJSON(c):
		if err := decodeJSONObject(c, &cr); err != nil {
			return cr, err
		}
	case isForm(c):
		cr.Username, cr.Password = c.FormValue("username"), c.FormValue("password")
	default:
		return cr, unsupportedMediaType("application/json or a form")
	}
	var fields []apperr.FieldError
	if cr.Username == "" {
		fields = append(fields, apperr.FieldError{Field: "username", Message: "is required"})
	}
	if cr.Password == "" {
		fields = append(fields, apperr.FieldError{Field: "password", Message: "is required"})
	}
	if len(fields) > 0 {
		return cr, apperr.Validation("Validation error", fields...)
	}
	return cr, nil
}
