// Package passkey is the server side of WebAuthn passkeys: registering one for a
// logged-in user, and logging in with one without a username or password. It
// knows nothing of HTTP; internal/web's handlers_passkeys.go adapts it.
//
// A passkey is a key pair made by the user's authenticator (a phone, a laptop's
// secure chip, a security key). The server keeps only the public key; the browser
// signs the server's challenge for this site's origin only, so a look-alike site
// gets nothing it can replay here.
//
// Challenges are single use and live five minutes. A registration's challenge is
// kept in the shared state under the (hashed) ID of the session that asked for it.
// A login's challenge costs the server nothing per visitor: it travels sealed
// (AEAD under SECRETS_KEY) in a short cookie, and only a verified assertion writes
// anything: a mark, in the shared state, that its challenge is spent.
package passkey

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"fiberauth/internal/apperr"
	"fiberauth/internal/auth"
	"fiberauth/internal/secretbox"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
)

// ChallengeTTL is how long a ceremony may take, from options to answer.
const ChallengeTTL = 5 * time.Minute

// Limits on client input, checked before anything is parsed or stored.
const (
	MaxNameBytes       = 64
	MaxCredentialBytes = 16 << 10 // a credential JSON; real ones are well under 2 KiB
	handleBytes        = 32       // the WebAuthn user handle: random, never the numeric ID
	loginPurpose       = "passkey-login"
)

// Errors the web layer shows as they are.
var (
	// ErrNoChallenge: no ceremony was started, it expired, or its challenge was used.
	ErrNoChallenge = apperr.New(apperr.KindBadRequest, "No passkey ceremony in progress, or it expired: start again")
	// ErrMalformed: the credential is not a WebAuthn response.
	ErrMalformed = apperr.New(apperr.KindBadRequest, "The credential is not a valid WebAuthn response")
	// ErrRegistrationFailed: the attestation did not verify (wrong origin, RP ID,
	// challenge, no user verification, ...).
	ErrRegistrationFailed = apperr.New(apperr.KindBadRequest, "The passkey could not be verified: try again")
	// ErrLoginFailed is the one answer for an assertion that does not log in:
	// unknown passkey, bad signature, wrong origin, replay, counter gone backwards.
	ErrLoginFailed = apperr.New(apperr.KindUnauthenticated, "Passkey not recognised")
)

// Config sets up a Service.
type Config struct {
	// PublicURL is the site's origin (PUBLIC_URL): its host is the relying-party
	// ID, and it is the one origin a ceremony may come from.
	PublicURL  string
	SecretsKey []byte // seals the login challenge cookie
	Store      store.Store
	Shared     shared.Store
	// Audit records security events (auth.Service.Audit).
	Audit  func(context.Context, store.AuditEvent)
	Now    func() time.Time
	Logger *slog.Logger
}

// Service runs the two ceremonies.
type Service struct {
	wa     *webauthn.WebAuthn
	store  store.Store
	shared shared.Store
	box    *secretbox.Box
	audit  func(context.Context, store.AuditEvent)
	now    func() time.Time
	log    *slog.Logger
}

// New checks cfg and builds the relying party.
func New(cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("passkey: PUBLIC_URL %q is not an http(s) origin", cfg.PublicURL)
	}
	origin := u.Scheme + "://" + u.Host
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         "fiberauth",
		RPOrigins:             []string{origin},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		// The browser is told five minutes; the server enforces them on its own
		// clock (ticket and registration expiry), so tests can move it.
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ChallengeTTL, TimeoutUVD: ChallengeTTL},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	box, err := secretbox.New(cfg.SecretsKey)
	if err != nil {
		return nil, fmt.Errorf("passkey: %w", err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Audit == nil {
		cfg.Audit = func(context.Context, store.AuditEvent) {}
	}
	return &Service{wa: wa, store: cfg.Store, shared: cfg.Shared, box: box, audit: cfg.Audit, now: cfg.Now, log: cfg.Logger}, nil
}

// RPID is the relying-party ID (PUBLIC_URL's host).
func (s *Service) RPID() string { return s.wa.Config.RPID }

// account is a user as go-webauthn sees them.
type account struct {
	user   store.User
	handle []byte
	keys   []store.Passkey
}

func (a account) WebAuthnID() []byte          { return a.handle }
func (a account) WebAuthnName() string        { return a.user.Username }
func (a account) WebAuthnDisplayName() string { return a.user.Username }
func (a account) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(a.keys))
	for _, k := range a.keys {
		out = append(out, credential(k))
	}
	return out
}

// credential is a stored passkey as go-webauthn's credential record.
func credential(k store.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
	for _, t := range k.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID:                k.CredentialID,
		PublicKey:         k.PublicKey,
		AttestationType:   k.AttestationType,
		AttestationFormat: k.AttestationFormat,
		Transport:         transports,
		Flags:             webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(k.Flags)),
		Authenticator:     webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
	}
}

// account loads a user's handle (made on first use) and passkeys.
func (s *Service) account(ctx context.Context, u store.User) (account, error) {
	candidate := make([]byte, handleBytes)
	_, _ = rand.Read(candidate) // crypto/rand.Read never fails
	handle, err := s.store.PasskeyHandle(ctx, u.ID, candidate)
	if err != nil {
		return account{}, err
	}
	keys, err := s.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return account{}, err
	}
	return account{user: u, handle: handle, keys: keys}, nil
}

// pending is a ceremony between its options and its answer.
type pending struct {
	Session webauthn.SessionData `json:"session"`
	Expires int64                `json:"expires"` // unix nanoseconds, on the service's clock
}

// digest bounds a key built from client input (a session ID, a challenge).
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func registrationKey(sessionID string) string { return "passkey:reg:" + digest(sessionID) }
func spentKey(challenge string) string        { return "passkey:spent:" + digest(challenge) }

// spend marks a verified ceremony's challenge used, atomically on every
// instance; false means it was used already (a replay).
func (s *Service) spend(p pending) (bool, error) {
	left := time.Duration(p.Expires - s.now().UnixNano())
	if left <= 0 {
		return false, nil
	}
	ok, err := s.shared.Claim(spentKey(p.Session.Challenge), left)
	if err != nil {
		return false, apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
	}
	return ok, nil
}

// Passkey is a registered passkey as the user sees it.
type Passkey struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

func view(k store.Passkey) Passkey {
	return Passkey{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt}
}

// List returns the user's passkeys, oldest first.
func (s *Service) List(ctx context.Context, userID int64) ([]Passkey, error) {
	keys, err := s.store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, 0, len(keys))
	for _, k := range keys {
		out = append(out, view(k))
	}
	return out, nil
}

// BeginRegistration starts adding a passkey for the user of the session sessionID:
// the creation options for navigator.credentials.create, whose challenge only
// that session can answer, within ChallengeTTL. A new start replaces an old one.
func (s *Service) BeginRegistration(ctx context.Context, userID int64, sessionID string) (*protocol.CredentialCreation, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	a, err := s.account(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(a.keys) >= store.MaxPasskeysPerUser {
		return nil, store.ErrTooManyPasskeys
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(a.keys))
	for _, c := range a.WebAuthnCredentials() {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(a, webauthn.WithExclusions(exclude))
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, "passkey options", err)
	}
	raw, err := json.Marshal(pending{Session: *session, Expires: s.now().Add(ChallengeTTL).UnixNano()})
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, "passkey options", err)
	}
	if err := s.shared.Set(registrationKey(sessionID), raw, ChallengeTTL); err != nil {
		return nil, apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
	}
	return creation, nil
}

// CleanName checks a passkey's name: trimmed, 1..MaxNameBytes of printable UTF-8;
// empty becomes "Passkey".
func CleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "Passkey", nil
	}
	if len(name) > MaxNameBytes || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", apperr.Validation("Validation error", apperr.FieldError{Field: "name",
			Message: fmt.Sprintf("must be at most %d bytes of printable text", MaxNameBytes)})
	}
	return name, nil
}

// FinishRegistration verifies the browser's answer to BeginRegistration for the
// same session and stores the passkey.
func (s *Service) FinishRegistration(ctx context.Context, userID int64, sessionID, name string, response []byte,
	clientIP string) (Passkey, error) {
	name, err := CleanName(name)
	if err != nil {
		return Passkey{}, err
	}
	if len(response) > MaxCredentialBytes {
		return Passkey{}, ErrMalformed
	}
	key := registrationKey(sessionID)
	raw, err := s.shared.Get(key)
	if err != nil {
		return Passkey{}, apperr.Wrap(apperr.KindUnavailable, "Session storage is unavailable", err)
	}
	var p pending
	if raw == nil || json.Unmarshal(raw, &p) != nil || s.now().UnixNano() >= p.Expires {
		return Passkey{}, ErrNoChallenge
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Passkey{}, ErrMalformed
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return Passkey{}, err
	}
	a, err := s.account(ctx, u)
	if err != nil {
		return Passkey{}, err
	}
	cred, err := s.wa.CreateCredential(a, p.Session, parsed)
	if err != nil {
		s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "passkey.register", ClientIP: clientIP, Outcome: "failure",
			Detail: "verification failed"})
		return Passkey{}, ErrRegistrationFailed
	}
	if ok, err := s.spend(p); err != nil {
		return Passkey{}, err
	} else if !ok {
		return Passkey{}, ErrNoChallenge
	}
	if err := s.shared.Delete(key); err != nil {
		s.log.WarnContext(ctx, "passkey: deleting a spent registration challenge failed", "err", err)
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		if t != "" && !strings.Contains(string(t), ",") && len(transports) < 8 {
			transports = append(transports, string(t))
		}
	}
	k := store.Passkey{UserID: u.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, Transports: transports, Flags: byte(cred.Flags.ProtocolValue()),
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat, Name: name}
	if err := s.store.CreatePasskey(ctx, &k); err != nil {
		return Passkey{}, err
	}
	s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "passkey.register", ClientIP: clientIP, Outcome: "success",
		Detail: fmt.Sprintf("passkey id=%d", k.ID)})
	return view(k), nil
}

// Remove deletes one of the user's passkeys (store.ErrLastPasskey for the last
// one of an account without a password).
func (s *Service) Remove(ctx context.Context, user auth.Principal, id int64, clientIP string) error {
	if err := s.store.DeletePasskey(ctx, user.UserID, id); err != nil {
		if apperr.Is(err, apperr.KindValidation) {
			s.audit(ctx, store.AuditEvent{Actor: user.Username, Action: "passkey.remove", ClientIP: clientIP, Outcome: "failure",
				Detail: fmt.Sprintf("passkey id=%d is the last way to log in", id)})
		}
		return err
	}
	s.audit(ctx, store.AuditEvent{Actor: user.Username, Action: "passkey.remove", ClientIP: clientIP, Outcome: "success",
		Detail: fmt.Sprintf("passkey id=%d", id)})
	return nil
}

// RemoveAll deletes every passkey of a user (the admin's second-factor reset).
func (s *Service) RemoveAll(ctx context.Context, userID int64) (int64, error) {
	return s.store.DeletePasskeys(ctx, userID)
}

// BeginLogin starts a login with any passkey of this site (discoverable: no
// username, no list of allowed credentials). ticket carries the challenge sealed,
// for the caller to keep in a cookie until FinishLogin; nothing is stored.
func (s *Service) BeginLogin() (options *protocol.CredentialAssertion, ticket []byte, err error) {
	options, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, apperr.Wrap(apperr.KindInternal, "passkey options", err)
	}
	raw, err := json.Marshal(pending{Session: *session, Expires: s.now().Add(ChallengeTTL).UnixNano()})
	if err != nil {
		return nil, nil, apperr.Wrap(apperr.KindInternal, "passkey options", err)
	}
	return options, s.box.Seal(raw, loginPurpose), nil
}

// MaxTicketBytes bounds the ticket cookie read back.
const MaxTicketBytes = 2048

// FinishLogin verifies the browser's answer to the challenge in ticket and returns
// who logged in, as a principal for a new session. Whatever is wrong with the
// assertion, the answer is ErrLoginFailed; a disabled user's right passkey gets
// auth.ErrAccountDisabled.
func (s *Service) FinishLogin(ctx context.Context, ticket, response []byte, clientIP string) (auth.Principal, error) {
	if len(ticket) > MaxTicketBytes {
		return auth.Principal{}, ErrNoChallenge
	}
	raw, err := s.box.Open(ticket, loginPurpose)
	var p pending
	if err != nil || json.Unmarshal(raw, &p) != nil || s.now().UnixNano() >= p.Expires {
		return auth.Principal{}, ErrNoChallenge
	}
	if len(response) > MaxCredentialBytes {
		return auth.Principal{}, ErrMalformed
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return auth.Principal{}, ErrMalformed
	}
	var found account
	var used store.Passkey
	lookup := func(rawID, userHandle []byte) (webauthn.User, error) {
		if len(rawID) > 1023 || len(userHandle) > 64 {
			return nil, errors.New("credential ID or user handle too long")
		}
		k, err := s.store.PasskeyByCredentialID(ctx, rawID)
		if err != nil {
			return nil, err
		}
		u, err := s.store.UserByPasskeyHandle(ctx, userHandle)
		if err != nil {
			return nil, err
		}
		if u.ID != k.UserID {
			return nil, errors.New("the user handle does not own the credential")
		}
		found, used = account{user: u, handle: bytes.Clone(userHandle), keys: []store.Passkey{k}}, k
		return found, nil
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(lookup, p.Session, parsed)
	if err != nil {
		if storeErr := unavailableCause(err); storeErr != nil {
			return auth.Principal{}, storeErr
		}
		s.audit(ctx, store.AuditEvent{Actor: found.user.Username, Action: "login", ClientIP: clientIP, Outcome: "failure",
			Detail: "passkey not recognised"})
		return auth.Principal{}, ErrLoginFailed
	}
	u := found.user
	if cred.Authenticator.CloneWarning {
		// The authenticator's counter went backwards: the key may have been copied.
		s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "passkey.counter", ClientIP: clientIP, Outcome: "failure",
			Detail: fmt.Sprintf("passkey id=%d sign count %d after %d: refused, possibly cloned", used.ID,
				parsed.Response.AuthenticatorData.Counter, used.SignCount)})
		return auth.Principal{}, ErrLoginFailed
	}
	if ok, err := s.spend(p); err != nil {
		return auth.Principal{}, err
	} else if !ok {
		s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "login", ClientIP: clientIP, Outcome: "failure",
			Detail: "passkey challenge replayed"})
		return auth.Principal{}, ErrLoginFailed
	}
	now := s.now().UTC()
	advanced, err := s.store.RecordPasskeyUse(ctx, used.ID, cred.Authenticator.SignCount, byte(cred.Flags.ProtocolValue()), now)
	if err != nil {
		return auth.Principal{}, err
	}
	if !advanced { // another login with the same counter value got there first
		s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "passkey.counter", ClientIP: clientIP, Outcome: "failure",
			Detail: fmt.Sprintf("passkey id=%d sign count %d not above the stored one: refused", used.ID, cred.Authenticator.SignCount)})
		return auth.Principal{}, ErrLoginFailed
	}
	// Only a right passkey learns that the account is disabled, as with passwords.
	if u.DisabledAt != nil {
		s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "login", ClientIP: clientIP, Outcome: "failure", Detail: "account disabled"})
		return auth.Principal{}, auth.ErrAccountDisabled
	}
	if err := s.store.RecordLogin(ctx, u.ID, now); err != nil {
		s.log.WarnContext(ctx, "record login failed", "user_id", u.ID, "err", err)
	}
	s.audit(ctx, store.AuditEvent{Actor: u.Username, Action: "login", ClientIP: clientIP, Outcome: "success",
		Detail: fmt.Sprintf("passkey id=%d", used.ID)})
	return auth.UserPrincipal(u, auth.MethodPasskey), nil
}

// unavailableCause finds a storage outage behind a failed validation, so that it
// is a 503 and not a misleading "not recognised".
func unavailableCause(err error) error {
	var ae *apperr.Error
	if errors.As(err, &ae) && (ae.Kind == apperr.KindUnavailable || ae.Kind == apperr.KindInternal) {
		return ae
	}
	return nil
}
