// Package apperr defines the application's typed errors. It knows nothing about HTTP:
// the web layer maps each Kind to a status code in one place.
package apperr

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

const (
	KindInternal         Kind = iota // a bug or an outage: the caller can do nothing
	KindBadRequest                   // the request itself is malformed
	KindUnauthenticated              // who are you?
	KindForbidden                    // we know who you are, and the answer is no
	KindNotFound                     // no such thing (or not yours)
	KindConflict                     // it already exists
	KindValidation                   // well-formed but breaks a rule; see Fields
	KindRateLimited                  // too many tries; come back later
	KindUnavailable                  // a dependency is down
	KindUnsupportedMedia             // the body is of a type this operation does not read
)

// FieldError is one rule a field of the input broke.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is an error with a Kind and a message that is safe to show to the client.
type Error struct {
	Kind    Kind
	Message string       // shown to the client
	Fields  []FieldError // for KindValidation
	Err     error        // the cause, for logs only
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of the given kind with a client-safe message.
func New(kind Kind, message string) *Error {
	return &Error{Kind: kind, Message: message}
}

// Wrap returns an error of the given kind that keeps cause for the logs.
func Wrap(kind Kind, message string, cause error) *Error {
	return &Error{Kind: kind, Message: message, Err: cause}
}

// Validation returns a KindValidation error listing the fields at fault.
func Validation(message string, fields ...FieldError) *Error {
	return &Error{Kind: KindValidation, Message: message, Fields: fields}
}

// KindOf reports the Kind of err, or KindInternal when err carries none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Is reports whether err carries the given kind.
func Is(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}
