package auth

import (
	"slices"

	"fiberauth/internal/store"
)

// How a request proved who it is.
const (
	MethodBasic   = "basic"
	MethodAPIKey  = "api_key"
	MethodSession = "session"
	// MethodPasskey is a session that logged in with a passkey: a session in
	// every respect (cookie, CSRF rule), named apart so /whoami can say so.
	MethodPasskey = "passkey"
)

// Principal is the authenticated client of one request.
type Principal struct {
	UserID      int64
	Username    string
	Role        string
	Method      string
	Permissions []string
	KeyID       int64 // the API key used, for MethodAPIKey
	// Generation is the user's access generation when the credential was checked:
	// what is granted on the strength of this principal (a session) is stamped with
	// it, and void once the user's access ends (access.go).
	Generation int64
	// SecondFactor is the user's second factor ("totp"), or "" for none: read in
	// the same row as the password hash, so a password alone is known to be not
	// enough where no code can follow (HTTP Basic, the token password grant).
	SecondFactor string
}

// Can reports whether the principal holds a permission.
func (p Principal) Can(permission string) bool {
	return slices.Contains(p.Permissions, permission)
}

// BySession reports whether the request authenticated with a session cookie,
// whichever way that session logged in.
func (p Principal) BySession() bool { return p.Method == MethodSession || p.Method == MethodPasskey }

// IsAdmin reports whether the principal's user has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == store.RoleAdmin }

// RolePermissions is what a user may do when they prove who they are with their
// password (Basic or session): everything their own keys could be given.
func RolePermissions(role string) []string {
	if role == store.RoleAdmin {
		return []string{store.PermRead, store.PermWrite, "admin"}
	}
	return []string{store.PermRead, store.PermWrite}
}

// UserPrincipal is the principal of a user who has just proved who they are by
// method (the passkey login builds its session's principal with it).
func UserPrincipal(u store.User, method string) Principal { return userPrincipal(u, method) }

func userPrincipal(u store.User, method string) Principal {
	return Principal{UserID: u.ID, Username: u.Username, Role: u.Role, Method: method, Permissions: RolePermissions(u.Role),
		Generation: u.AccessGeneration, SecondFactor: u.SecondFactor}
}
