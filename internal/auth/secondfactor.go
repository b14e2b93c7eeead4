package auth

import (
	"context"

	"fiberauth/internal/apperr"
)

// ErrWrongPassword refuses an account change that asks for the password again
// (turning the second factor off, new recovery codes). Like
// ErrWrongCurrentPassword it is a failed login in all but name, and the web layer
// throttles it as one.
var ErrWrongPassword = apperr.Validation("Validation error",
	apperr.FieldError{Field: "password", Message: "is not your password"})

// ConfirmPassword checks the logged-in user's password before a change to their
// second factor: one bcrypt compare, no cache.
func (s *Service) ConfirmPassword(ctx context.Context, userID int64, password string) error {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	if !s.hasher.Check([]byte(u.PasswordHash), password) {
		return ErrWrongPassword
	}
	return nil
}
