package store

// SecondFactorStore keeps TOTP secrets and recovery codes.
type SecondFactorStore interface{}
