package store

// PasskeyStore keeps WebAuthn credentials.
type PasskeyStore interface{}
