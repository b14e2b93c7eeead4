package store

// TokenStore keeps JWT signing keys and refresh-token families.
type TokenStore interface{}
