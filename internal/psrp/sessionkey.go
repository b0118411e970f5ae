package psrp

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"unicode/utf16"
)

// ErrNoSessionKey is returned when a SecureString is encoded or decoded
// before the pool's session-key exchange.
var ErrNoSessionKey = errors.New("psrp: a SecureString needs the session key, and none has been exchanged")

// The fixed parts of the CAPI blobs of MS-PSRP §2.2.2.3 and §2.2.2.4.
var (
	publicKeyBlobPrefix  = []byte{0x06, 0x02, 0x00, 0x00, 0x00, 0xA4, 0x00, 0x00, 'R', 'S', 'A', '1'}
	simpleKeyBlobPrefix  = []byte{0x01, 0x02, 0x00, 0x00, 0x10, 0x66, 0x00, 0x00, 0x00, 0xA4, 0x00, 0x00}
	sessionKeyLen        = 32
	rsaKeyBits           = 2048
	publicKeyBlobLen     = 20 + rsaKeyBits/8
	encryptedKeyBlobLen  = len(simpleKeyBlobPrefix) + rsaKeyBits/8
	secureStringIV       = make([]byte, aes.BlockSize)
	errSessionKeyNotHeld = errors.New("psrp: no session key")
)

// SessionKey is a pool's AES-256 session key, which encrypts every
// SecureString in both directions (MS-PSRP §2.2.5.1.24; PowerShell's
// CryptoUtils.cs).
type SessionKey struct {
	key []byte
}

// NewSessionKey makes a random session key (the server's side).
func NewSessionKey() (*SessionKey, error) {
	k := make([]byte, sessionKeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("psrp: session key: %w", err)
	}
	return &SessionKey{key: k}, nil
}

// SessionKeyFromBytes wraps a 32-byte AES-256 key.
func SessionKeyFromBytes(k []byte) (*SessionKey, error) {
	if len(k) != sessionKeyLen {
		return nil, fmt.Errorf("psrp: session key of %d bytes, want %d (AES-256)", len(k), sessionKeyLen)
	}
	return &SessionKey{key: bytes.Clone(k)}, nil
}

// GoString hides the key.
func (k *SessionKey) GoString() string { return "psrp.SessionKey{…}" }

// String hides the key.
func (k *SessionKey) String() string { return "[SessionKey]" }

// Encrypt returns the <SS> ciphertext of plain: its UTF-16LE code units,
// AES-256-CBC with a zero IV and PKCS#7 padding, each value on its own
// (PowerShell's CryptoUtils.cs; pypsrp serializer.py).
func (k *SessionKey) Encrypt(plain string) ([]byte, error) {
	if k == nil {
		return nil, ErrNoSessionKey
	}
	units := utf16.Encode([]rune(plain))
	pad := aes.BlockSize - (len(units)*2)%aes.BlockSize
	buf := make([]byte, len(units)*2+pad)
	for i, u := range units {
		binary.LittleEndian.PutUint16(buf[2*i:], u)
	}
	for i := len(units) * 2; i < len(buf); i++ {
		buf[i] = byte(pad)
	}
	block, err := aes.NewCipher(k.key)
	if err != nil {
		return nil, fmt.Errorf("psrp: session key: %w", err)
	}
	cipher.NewCBCEncrypter(block, secureStringIV).CryptBlocks(buf, buf)
	return buf, nil
}

// Decrypt reverses Encrypt.
func (k *SessionKey) Decrypt(ct []byte) (string, error) {
	if k == nil {
		return "", ErrNoSessionKey
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return "", fmt.Errorf("psrp: SecureString ciphertext of %d bytes is not a whole number of %d-byte AES blocks", len(ct), aes.BlockSize)
	}
	block, err := aes.NewCipher(k.key)
	if err != nil {
		return "", fmt.Errorf("psrp: session key: %w", err)
	}
	buf := make([]byte, len(ct))
	cipher.NewCBCDecrypter(block, secureStringIV).CryptBlocks(buf, ct)
	pad := int(buf[len(buf)-1])
	if pad == 0 || pad > aes.BlockSize || pad > len(buf) {
		return "", errors.New("psrp: SecureString has bad padding (wrong session key?)")
	}
	for _, c := range buf[len(buf)-pad:] {
		if int(c) != pad {
			return "", errors.New("psrp: SecureString has bad padding (wrong session key?)")
		}
	}
	buf = buf[:len(buf)-pad]
	if len(buf)%2 != 0 {
		return "", errors.New("psrp: SecureString plaintext is not UTF-16 (odd length)")
	}
	units := make([]uint16, len(buf)/2)
	for i := range units {
		units[i] = binary.LittleEndian.Uint16(buf[2*i:])
	}
	return string(utf16.Decode(units)), nil
}

// KeyExchange is the client's side of the session-key exchange: an RSA
// key pair whose public half goes to the server in PUBLIC_KEY.
type KeyExchange struct {
	priv *rsa.PrivateKey
}

// NewKeyExchange makes an RSA-2048 key pair.
func NewKeyExchange() (*KeyExchange, error) {
	priv, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("psrp: RSA key for the session-key exchange: %w", err)
	}
	return &KeyExchange{priv: priv}, nil
}

// PublicKeyBlob returns the CAPI PUBLICKEYBLOB of the public key, as
// PUBLIC_KEY carries it (base64 of it; MS-PSRP §2.2.2.3).
func (x *KeyExchange) PublicKeyBlob() []byte {
	b := make([]byte, 0, publicKeyBlobLen)
	b = append(b, publicKeyBlobPrefix...)
	b = binary.LittleEndian.AppendUint32(b, uint32(rsaKeyBits))
	b = binary.LittleEndian.AppendUint32(b, uint32(x.priv.E))
	n := x.priv.N.FillBytes(make([]byte, rsaKeyBits/8))
	return append(b, reversed(n)...)
}

// SessionKey decrypts the CAPI SIMPLEBLOB of ENCRYPTED_SESSION_KEY (MS-PSRP
// §2.2.2.4) into the session key.
func (x *KeyExchange) SessionKey(blob []byte) (*SessionKey, error) {
	if len(blob) != encryptedKeyBlobLen {
		return nil, fmt.Errorf("psrp: encrypted session key blob of %d bytes, want %d", len(blob), encryptedKeyBlobLen)
	}
	if !bytes.Equal(blob[:len(simpleKeyBlobPrefix)], simpleKeyBlobPrefix) {
		return nil, fmt.Errorf("psrp: encrypted session key blob starts % X, want % X (SIMPLEBLOB, AES-256, RSA key exchange)", blob[:len(simpleKeyBlobPrefix)], simpleKeyBlobPrefix)
	}
	ct := reversed(blob[len(simpleKeyBlobPrefix):])
	//nolint:staticcheck // MS-PSRP §2.2.2.4 mandates RSAES-PKCS1-v1_5.
	key, err := rsa.DecryptPKCS1v15(nil, x.priv, ct)
	if err != nil {
		return nil, fmt.Errorf("psrp: decrypt the session key: %w", err)
	}
	return SessionKeyFromBytes(key)
}

// ParsePublicKeyBlob reads the CAPI PUBLICKEYBLOB of a PUBLIC_KEY message
// (the server's side; MS-PSRP §2.2.2.3).
func ParsePublicKeyBlob(blob []byte) (*rsa.PublicKey, error) {
	if len(blob) < 20 {
		return nil, fmt.Errorf("psrp: public key blob of %d bytes is shorter than its 20-byte header", len(blob))
	}
	if !bytes.Equal(blob[:len(publicKeyBlobPrefix)], publicKeyBlobPrefix) {
		return nil, fmt.Errorf("psrp: public key blob starts % X, want % X (PUBLICKEYBLOB, RSA key exchange, RSA1)", blob[:len(publicKeyBlobPrefix)], publicKeyBlobPrefix)
	}
	bits := binary.LittleEndian.Uint32(blob[12:])
	if bits < 1024 || bits > 16384 || bits%8 != 0 {
		return nil, fmt.Errorf("psrp: public key blob says %d-bit RSA, want a multiple of 8 from 1024 to 16384", bits)
	}
	e := binary.LittleEndian.Uint32(blob[16:])
	if e < 3 || e > 0xFFFFFF || e%2 == 0 {
		return nil, fmt.Errorf("psrp: public key blob has RSA exponent %d, want an odd number from 3 to 0xFFFFFF", e)
	}
	if len(blob) != 20+int(bits/8) {
		return nil, fmt.Errorf("psrp: public key blob of %d bytes, want %d for %d bits", len(blob), 20+bits/8, bits)
	}
	n := new(big.Int).SetBytes(reversed(blob[20:]))
	return &rsa.PublicKey{N: n, E: int(e)}, nil
}

// EncryptedSessionKeyBlob wraps key for pub as the CAPI SIMPLEBLOB of
// ENCRYPTED_SESSION_KEY (the server's side; MS-PSRP §2.2.2.4, §3.2.5.4.3).
func EncryptedSessionKeyBlob(pub *rsa.PublicKey, key *SessionKey) ([]byte, error) {
	if key == nil {
		return nil, errSessionKeyNotHeld
	}
	//nolint:staticcheck // MS-PSRP §2.2.2.4 mandates RSAES-PKCS1-v1_5.
	ct, err := rsa.EncryptPKCS1v15(rand.Reader, pub, key.key)
	if err != nil {
		return nil, fmt.Errorf("psrp: encrypt the session key: %w", err)
	}
	b := make([]byte, 0, len(simpleKeyBlobPrefix)+len(ct))
	b = append(b, simpleKeyBlobPrefix...)
	return append(b, reversed(ct)...), nil
}

func reversed(b []byte) []byte {
	r := make([]byte, len(b))
	for i, c := range b {
		r[len(b)-1-i] = c
	}
	return r
}
