package auth

import (
	"context"
	"errors"

	"fiberauth/internal/apperr"
	"fiberauth/internal/store"
)

// PrepareUser checks a new user's name, password and role and hashes the password:
// the user as CreateUser would insert it, for a caller that inserts it together
// with more (recovery's sign-up with an email address).
func (s *Service) PrepareUser(username, password, role string) (store.User, error) {
	var fields []apperr.FieldError
	for _, err := range []error{ValidateUsername(username), ValidatePassword("password", password)} {
		var ae *apperr.Error
		if errors.As(err, &ae) {
			fields = append(fields, ae.Fields...)
		}
	}
	if role != store.RoleUser && role != store.RoleAdmin {
		fields = append(fields, apperr.FieldError{Field: "role", Message: "must be user or admin"})
	}
	if len(fields) > 0 {
		return store.User{}, apperr.Validation("Validation error", fields...)
	}
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return store.User{}, err
	}
	return store.User{Username: username, PasswordHash: hash, Role: role}, nil
}

// ResetPassword sets a new password for the holder of a live reset token (its
// digest), spending the token in the same transaction, and ends everything granted
// under the old password, everywhere, before it returns: the same generation path
// as ChangePassword (the password statement moves the generation on, then
// publishGeneration). store.ErrTokenInvalid when the token is not live.
func (s *Service) ResetPassword(ctx context.Context, tokenDigest, next string) (store.User, error) {
	if err := ValidatePassword("new_password", next); err != nil {
		return store.User{}, err
	}
	hash, err := s.hasher.Hash(next)
	if err != nil {
		return store.User{}, err
	}
	u, err := s.store.ResetPassword(ctx, tokenDigest, hash, s.now().UTC())
	if err != nil {
		return store.User{}, err
	}
	return u, s.publishGeneration(u.ID, u.AccessGeneration)
}
