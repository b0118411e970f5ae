package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// AccountKeyFile is where the account key is kept, relative to the state
// directory.
const AccountKeyFile = "acme/account.key"

// EAB is an external account binding (RFC 8555 7.3.4), which commercial
// ACME CAs require: the key identifier and the base64url HMAC key they
// hand out.
type EAB struct {
	KID string
	// HMACKey is the raw key (decoded). It is never logged.
	HMACKey []byte
}

// String names the binding, never the key.
func (e EAB) String() string { return "external account binding " + e.KID }

// GoString is String.
func (e EAB) GoString() string { return e.String() }

// ParseEABKey decodes the HMAC key as CAs print it: base64url, with or
// without padding (standard base64 is accepted too).
func ParseEABKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, nil
		}
	}
	return nil, errors.New("the external account binding key is not base64url")
}

// LoadOrCreateAccountKey reads the account key from path (PEM, PKCS#8 or
// SEC 1), or creates an ECDSA P-256 key there with mode 0600. An existing
// file must be mode 0600 or stricter.
func LoadOrCreateAccountKey(path string) (crypto.Signer, bool, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		fi, serr := os.Stat(path)
		if serr != nil {
			return nil, false, serr
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("the ACME account key %s has mode %04o; it must be 0600 (chmod 600 %s)", path, fi.Mode().Perm(), path)
		}
		k, err := parseKey(b)
		if err != nil {
			return nil, false, fmt.Errorf("the ACME account key %s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	if err := writeFile0600(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// writeFile0600 writes data to path atomically (temp file, fsync,
// rename), mode 0600, refusing to replace an existing file.
func writeFile0600(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link fails when another process created the key meanwhile: both
	// then use the first one.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func parseKey(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("not PEM")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("a %T key cannot sign", k)
		}
		return s, nil
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKCS#8, SEC 1 or PKCS#1 private key")
}
