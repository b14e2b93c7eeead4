// Package mfa is the second factor: TOTP enrolment and verification (RFC 6238, via
// github.com/pquerna/otp), recovery codes, logins waiting for their second factor,
// and browsers remembered so that they may skip it. It knows nothing of HTTP.
package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"image/png"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"fiberauth/internal/apperr"
	"fiberauth/internal/secretbox"
	"fiberauth/internal/shared"
	"fiberauth/internal/store"
)

// The TOTP parameters every authenticator app understands (RFC 6238's defaults).
const (
	period = 30 // seconds per time step
	skew   = 1  // steps accepted either side of the current one
	digits = otp.DigitsSix
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

var (
	// ErrInvalidCode refuses a wrong TOTP code where the user is setting things up
	// (confirm, disable): a field error on "code".
	ErrInvalidCode = apperr.Validation("Invalid code", apperr.FieldError{Field: "code", Message: "is not the current code of your authenticator app"})
	// ErrWrongCode refuses a wrong code or recovery code at login.
	ErrWrongCode = apperr.New(apperr.KindUnauthenticated, "Invalid code")
	// ErrNotEnrolled: the user has no second factor to check or turn off.
	ErrNotEnrolled = apperr.New(apperr.KindConflict, "Two-factor authentication is not on")
	// ErrNoEnrolment: confirm without a started enrolment.
	ErrNoEnrolment = apperr.New(apperr.KindConflict, "Start the set-up first: POST /account/totp")
)

// Options configures a Service.
type Options struct {
	Store  store.SecondFactorStore
	Shared shared.Store // pending logins and their attempt counters
	// SecretsKey seals TOTP secrets at rest (service.Core.SecretsKey); 32 bytes.
	SecretsKey []byte
	Issuer     string           // shown in authenticator apps; "fiberauth" when empty
	Now        func() time.Time // time.Now when nil
}

// Service is the second factor.
type Service struct {
	store  store.SecondFactorStore
	shared shared.Store
	box    *secretbox.Box
	issuer string
	now    func() time.Time
}

// New builds a Service.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Shared == nil {
		return nil, errors.New("mfa: Options.Store and Options.Shared are required")
	}
	box, err := secretbox.New(opts.SecretsKey)
	if err != nil {
		return nil, err
	}
	if opts.Issuer == "" {
		opts.Issuer = "fiberauth"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Service{store: opts.Store, shared: opts.Shared, box: box, issuer: opts.Issuer, now: opts.Now}, nil
}

// Enrolment is a TOTP secret being set up: what the user types or scans.
type Enrolment struct {
	Secret string `json:"secret"`      // base32, no padding
	URI    string `json:"otpauth_uri"` // otpauth://totp/...
}

// SecretGroups is the secret in groups of four characters, for typing.
func (e Enrolment) SecretGroups() string {
	var b strings.Builder
	for i, r := range e.Secret {
		if i > 0 && i%4 == 0 {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// QRCode is the otpauth URI as a PNG QR code in a data: URI (the page's CSP
// allows data: images; nothing is fetched from elsewhere).
func (e Enrolment) QRCode() (string, error) {
	key, err := otp.NewKeyFromURL(e.URI)
	if err != nil {
		return "", err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", err
	}
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func purpose(userID int64) string { return "totp:" + strconv.FormatInt(userID, 10) }

// Start makes a new TOTP secret for the user, not active until Confirm. Starting
// again replaces an unconfirmed one; with a confirmed one it is KindConflict.
func (s *Service) Start(ctx context.Context, userID int64, username string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: username, Period: period,
		SecretSize: 20, Digits: digits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, apperr.Wrap(apperr.KindInternal, "could not make a TOTP secret", err)
	}
	if err := s.store.StartTOTP(ctx, userID, s.box.Seal([]byte(key.Secret()), purpose(userID))); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URI: key.URL()}, nil
}

// Status is what the account page shows of a user's second factor.
type Status struct {
	Enabled   bool
	CodesLeft int        // unused recovery codes, when Enabled
	Pending   *Enrolment // a started, unconfirmed enrolment
	Since     *time.Time // when it was turned on
}

// Status reads the user's second factor.
func (s *Service) Status(ctx context.Context, userID int64, username string) (Status, error) {
	row, err := s.store.TOTP(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	if row.ConfirmedAt == nil {
		secret, err := s.open(row)
		if err != nil {
			return Status{}, err
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: s.issuer, AccountName: username, Period: period,
			Secret: secret, Digits: digits, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return Status{}, apperr.Wrap(apperr.KindInternal, "could not describe the TOTP secret", err)
		}
		return Status{Pending: &Enrolment{Secret: key.Secret(), URI: key.URL()}}, nil
	}
	left, err := s.store.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	return Status{Enabled: true, CodesLeft: left, Since: row.ConfirmedAt}, nil
}

// open returns a row's secret as raw bytes.
func (s *Service) open(row store.TOTPSecret) ([]byte, error) {
	plain, err := s.box.Open(row.Sealed, purpose(row.UserID))
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, "the TOTP secret cannot be opened (SECRETS_KEY changed?)", err)
	}
	raw, err := base32NoPad.DecodeString(string(plain))
	if err != nil {
		return nil, apperr.Wrap(apperr.KindInternal, "the TOTP secret is damaged", err)
	}
	return raw, nil
}

// Confirm turns the started secret on when code is its current code, and returns
// the user's new recovery codes (shown this once).
func (s *Service) Confirm(ctx context.Context, userID int64, code string) ([]string, error) {
	row, err := s.store.TOTP(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) {
		return nil, ErrNoEnrolment
	}
	if err != nil {
		return nil, err
	}
	if row.ConfirmedAt != nil {
		return nil, apperr.New(apperr.KindConflict, "Two-factor authentication is already on")
	}
	step, ok, err := s.check(row, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrInvalidCode
	}
	codes, hashes := newRecoveryCodes()
	if err := s.store.ConfirmTOTP(ctx, userID, step, hashes); err != nil {
		if apperr.Is(err, apperr.KindNotFound) { // confirmed meanwhile by another request
			return nil, apperr.New(apperr.KindConflict, "Two-factor authentication is already on")
		}
		return nil, err
	}
	return codes, nil
}

// check tells whether code is the row's code within the skew, and at which step.
func (s *Service) check(row store.TOTPSecret, code string) (step int64, ok bool, err error) {
	raw, err := s.open(row)
	if err != nil {
		return 0, false, err
	}
	step, ok = MatchStep(base32NoPad.EncodeToString(raw), code, s.now(), digits)
	return step, ok, nil
}

// MatchStep is the one TOTP check: whether code is secret's code (SHA-1, 30 s
// steps, the given number of digits) at a step within ±1 of now's, and which step.
// Every step is compared, in constant time, so timing tells nothing of which.
func MatchStep(secret, code string, now time.Time, d otp.Digits) (step int64, ok bool) {
	code = strings.TrimSpace(code)
	if len(code) != d.Length() || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	current := now.Unix() / period
	for off := int64(-skew); off <= skew; off++ {
		at := current + off
		want, err := totp.GenerateCodeCustom(secret, time.Unix(at*period, 0), totp.ValidateOpts{Period: period,
			Digits: d, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			step, ok = at, true
		}
	}
	return step, ok
}

// VerifyCode checks a TOTP code of an enrolled user and uses it up: a code (a time
// step) accepted once is refused after, and of two requests with the same code
// exactly one passes (a conditional UPDATE on the last accepted step).
func (s *Service) VerifyCode(ctx context.Context, userID int64, code string) error {
	row, err := s.store.TOTP(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) || (err == nil && row.ConfirmedAt == nil) {
		return ErrNotEnrolled
	}
	if err != nil {
		return err
	}
	step, ok, err := s.check(row, code)
	if err != nil {
		return err
	}
	if !ok || step <= row.LastStep {
		return ErrWrongCode
	}
	accepted, err := s.store.AcceptTOTPStep(ctx, userID, step)
	if err != nil {
		return err
	}
	if !accepted {
		return ErrWrongCode
	}
	return nil
}

// Disable turns the second factor off after a current code (the caller has
// checked the password): secret, recovery codes and remembered browsers go.
func (s *Service) Disable(ctx context.Context, userID int64, code string) error {
	if err := s.VerifyCode(ctx, userID, code); err != nil {
		if errors.Is(err, ErrWrongCode) {
			return ErrInvalidCode
		}
		return err
	}
	_, err := s.store.RemoveSecondFactor(ctx, userID)
	return err
}

// RegenerateCodes replaces the user's recovery codes (the old ones stop working)
// and returns the new ones, shown this once.
func (s *Service) RegenerateCodes(ctx context.Context, userID int64) ([]string, error) {
	row, err := s.store.TOTP(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) || (err == nil && row.ConfirmedAt == nil) {
		return nil, ErrNotEnrolled
	}
	if err != nil {
		return nil, err
	}
	codes, hashes := newRecoveryCodes()
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// UseRecoveryCode checks a recovery code and uses it up: of two requests with
// the same code exactly one passes.
func (s *Service) UseRecoveryCode(ctx context.Context, userID int64, code string) error {
	canonical, ok := canonicalRecoveryCode(code)
	if !ok {
		return ErrWrongCode
	}
	used, err := s.store.UseRecoveryCode(ctx, userID, hashCode(canonical))
	if err != nil {
		return err
	}
	if !used {
		return ErrWrongCode
	}
	return nil
}

// base32NoPad is the alphabet of TOTP secrets (RFC 4648, as authenticator apps read them).
var base32NoPad = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCodes makes RecoveryCodeCount codes like "abcde-fghij" (50 random
// bits each, lowercase base32) and their hashes.
func newRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		c := strings.ToLower(rand.Text()[:10])
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, hashCode(c))
	}
	return codes, hashes
}

// canonicalRecoveryCode accepts a code as typed (any case, with or without the
// dash and spaces) and returns its ten characters.
func canonicalRecoveryCode(code string) (string, bool) {
	if len(code) > 64 {
		return "", false
	}
	c := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	if len(c) != 10 || strings.Trim(c, "abcdefghijklmnopqrstuvwxyz234567") != "" {
		return "", false
	}
	return c, true
}

// hashCode is how a recovery code is stored: SHA-256. A fast hash is enough (no
// bcrypt): each code is 50 random bits, not a password a person chose, so a stolen
// table cannot be searched by guessing likely values, and a login already checks
// the password with bcrypt first.
func hashCode(canonical string) string {
	sum := sha256.Sum256([]byte("recovery:" + canonical))
	return hex.EncodeToString(sum[:])
}

// Factor is the user's second factor: "totp" once confirmed, else "".
func (s *Service) Factor(ctx context.Context, userID int64) (string, error) {
	row, err := s.store.TOTP(ctx, userID)
	if apperr.Is(err, apperr.KindNotFound) {
		return "", nil
	}
	if err != nil || row.ConfirmedAt == nil {
		return "", err
	}
	return store.SecondFactorTOTP, nil
}
