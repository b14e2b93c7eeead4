package service

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"fiberauth/internal/config"
)

// devSecretsKeyFile is where development keeps the SECRETS_KEY it made, so that
// second-factor secrets encrypted yesterday still open today.
const devSecretsKeyFile = "data/secrets.key"

// secretsKey returns the key that encrypts secrets at rest (SECRETS_KEY). Config
// already refuses production without one. In development a key is made once into
// data/ (mode 0600) and reused; tests get a fresh key per Core unless they set
// SECRETS_KEY (as two instances on one database must).
func secretsKey(cfg config.Config) ([]byte, error) {
	switch {
	case cfg.SecretsKey != nil:
		return cfg.SecretsKey, nil
	case cfg.Production():
		return nil, errors.New("SECRETS_KEY: required in production")
	case cfg.Development():
		return devSecretsKey(devSecretsKeyFile)
	default:
		key := make([]byte, 32)
		rand.Read(key)
		return key, nil
	}
}

// devSecretsKey reads the key at path, or makes it there when there is none.
func devSecretsKey(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("SECRETS_KEY: making %s: %w", path, err)
		}
		// O_EXCL: two processes starting at once must not each write their own key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return devSecretsKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("SECRETS_KEY: making %s: %w", path, err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, fmt.Errorf("SECRETS_KEY: writing %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("SECRETS_KEY: reading %s: %w", path, err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("SECRETS_KEY: %s does not hold 32 bytes in base64; set SECRETS_KEY or remove the file "+
			"(second factors encrypted under it will then need a reset)", path)
	}
	return key, nil
}
