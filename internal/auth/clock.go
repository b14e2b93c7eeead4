package auth

import "time"

// Now is the service's clock (a test clock in tests), for deciding whether a key
// has expired the same way VerifyAPIKey does.
func (s *Service) Now() time.Time { return s.now() }
