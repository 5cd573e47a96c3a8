package tlskeys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"golang.org/x/crypto/chacha20poly1305"
)

// Protocol versions as they appear in ServerHello (TLS 1.3 in its
// supported_versions extension, RFC 8446 §4.2.1).
const (
	VersionTLS10 uint16 = 0x0301
	VersionTLS11 uint16 = 0x0302
	VersionTLS12 uint16 = 0x0303
	VersionTLS13 uint16 = 0x0304
)

// Suite is a cipher suite number as IANA assigns it.
type Suite uint16

// The cipher suites this package decrypts (IANA TLS Cipher Suites
// registry; RFC 8446 §B.4, RFC 5288, RFC 5289, RFC 7905, RFC 5246 §A.5,
// RFC 4492).
const (
	TLS_AES_128_GCM_SHA256       Suite = 0x1301
	TLS_AES_256_GCM_SHA384       Suite = 0x1302
	TLS_CHACHA20_POLY1305_SHA256 Suite = 0x1303

	TLS_RSA_WITH_AES_128_GCM_SHA256               Suite = 0x009c
	TLS_RSA_WITH_AES_256_GCM_SHA384               Suite = 0x009d
	TLS_DHE_RSA_WITH_AES_128_GCM_SHA256           Suite = 0x009e
	TLS_DHE_RSA_WITH_AES_256_GCM_SHA384           Suite = 0x009f
	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256       Suite = 0xc02b
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384       Suite = 0xc02c
	TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256         Suite = 0xc02f
	TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384         Suite = 0xc030
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256   Suite = 0xcca8
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 Suite = 0xcca9
	TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256     Suite = 0xccaa

	TLS_RSA_WITH_3DES_EDE_CBC_SHA           Suite = 0x000a
	TLS_RSA_WITH_AES_128_CBC_SHA            Suite = 0x002f
	TLS_DHE_RSA_WITH_AES_128_CBC_SHA        Suite = 0x0033
	TLS_RSA_WITH_AES_256_CBC_SHA            Suite = 0x0035
	TLS_DHE_RSA_WITH_AES_256_CBC_SHA        Suite = 0x0039
	TLS_RSA_WITH_AES_128_CBC_SHA256         Suite = 0x003c
	TLS_RSA_WITH_AES_256_CBC_SHA256         Suite = 0x003d
	TLS_DHE_RSA_WITH_AES_128_CBC_SHA256     Suite = 0x0067
	TLS_DHE_RSA_WITH_AES_256_CBC_SHA256     Suite = 0x006b
	TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA    Suite = 0xc009
	TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA    Suite = 0xc00a
	TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA     Suite = 0xc012
	TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA      Suite = 0xc013
	TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA      Suite = 0xc014
	TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256 Suite = 0xc023
	TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384 Suite = 0xc024
	TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256   Suite = 0xc027
	TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384   Suite = 0xc028
)

// cipherKind is how a suite protects records.
type cipherKind int

const (
	cipherAESGCM   cipherKind = iota + 1 // AEAD, AES in GCM mode
	cipherChaCha20                       // AEAD, ChaCha20-Poly1305 (RFC 8439)
	cipherAESCBC                         // block cipher AES in CBC mode with an HMAC
	cipher3DESCBC                        // block cipher 3DES-EDE in CBC mode with an HMAC
)

// suiteInfo is what record protection needs to know of a suite.
type suiteInfo struct {
	name   string
	tls13  bool
	cipher cipherKind
	keyLen int
	// mac is the record MAC's hash of a CBC suite; crypto.Hash(0) for AEADs.
	mac crypto.Hash
	// prf is the hash of the TLS 1.2 PRF, or of the TLS 1.3 key schedule.
	prf crypto.Hash
}

var suites = map[Suite]suiteInfo{
	TLS_AES_128_GCM_SHA256:       {"TLS_AES_128_GCM_SHA256", true, cipherAESGCM, 16, 0, crypto.SHA256},
	TLS_AES_256_GCM_SHA384:       {"TLS_AES_256_GCM_SHA384", true, cipherAESGCM, 32, 0, crypto.SHA384},
	TLS_CHACHA20_POLY1305_SHA256: {"TLS_CHACHA20_POLY1305_SHA256", true, cipherChaCha20, 32, 0, crypto.SHA256},

	TLS_RSA_WITH_AES_128_GCM_SHA256:               {"TLS_RSA_WITH_AES_128_GCM_SHA256", false, cipherAESGCM, 16, 0, crypto.SHA256},
	TLS_RSA_WITH_AES_256_GCM_SHA384:               {"TLS_RSA_WITH_AES_256_GCM_SHA384", false, cipherAESGCM, 32, 0, crypto.SHA384},
	TLS_DHE_RSA_WITH_AES_128_GCM_SHA256:           {"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", false, cipherAESGCM, 16, 0, crypto.SHA256},
	TLS_DHE_RSA_WITH_AES_256_GCM_SHA384:           {"TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", false, cipherAESGCM, 32, 0, crypto.SHA384},
	TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", false, cipherAESGCM, 16, 0, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       {"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", false, cipherAESGCM, 32, 0, crypto.SHA384},
	TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", false, cipherAESGCM, 16, 0, crypto.SHA256},
	TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         {"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", false, cipherAESGCM, 32, 0, crypto.SHA384},
	TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   {"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false, cipherChaCha20, 32, 0, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: {"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", false, cipherChaCha20, 32, 0, crypto.SHA256},
	TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256:     {"TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", false, cipherChaCha20, 32, 0, crypto.SHA256},

	TLS_RSA_WITH_3DES_EDE_CBC_SHA:           {"TLS_RSA_WITH_3DES_EDE_CBC_SHA", false, cipher3DESCBC, 24, crypto.SHA1, crypto.SHA256},
	TLS_RSA_WITH_AES_128_CBC_SHA:            {"TLS_RSA_WITH_AES_128_CBC_SHA", false, cipherAESCBC, 16, crypto.SHA1, crypto.SHA256},
	TLS_DHE_RSA_WITH_AES_128_CBC_SHA:        {"TLS_DHE_RSA_WITH_AES_128_CBC_SHA", false, cipherAESCBC, 16, crypto.SHA1, crypto.SHA256},
	TLS_RSA_WITH_AES_256_CBC_SHA:            {"TLS_RSA_WITH_AES_256_CBC_SHA", false, cipherAESCBC, 32, crypto.SHA1, crypto.SHA256},
	TLS_DHE_RSA_WITH_AES_256_CBC_SHA:        {"TLS_DHE_RSA_WITH_AES_256_CBC_SHA", false, cipherAESCBC, 32, crypto.SHA1, crypto.SHA256},
	TLS_RSA_WITH_AES_128_CBC_SHA256:         {"TLS_RSA_WITH_AES_128_CBC_SHA256", false, cipherAESCBC, 16, crypto.SHA256, crypto.SHA256},
	TLS_RSA_WITH_AES_256_CBC_SHA256:         {"TLS_RSA_WITH_AES_256_CBC_SHA256", false, cipherAESCBC, 32, crypto.SHA256, crypto.SHA256},
	TLS_DHE_RSA_WITH_AES_128_CBC_SHA256:     {"TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", false, cipherAESCBC, 16, crypto.SHA256, crypto.SHA256},
	TLS_DHE_RSA_WITH_AES_256_CBC_SHA256:     {"TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", false, cipherAESCBC, 32, crypto.SHA256, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:    {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", false, cipherAESCBC, 16, crypto.SHA1, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:    {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", false, cipherAESCBC, 32, crypto.SHA1, crypto.SHA256},
	TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:     {"TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA", false, cipher3DESCBC, 24, crypto.SHA1, crypto.SHA256},
	TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:      {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", false, cipherAESCBC, 16, crypto.SHA1, crypto.SHA256},
	TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:      {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", false, cipherAESCBC, 32, crypto.SHA1, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: {"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", false, cipherAESCBC, 16, crypto.SHA256, crypto.SHA256},
	TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: {"TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", false, cipherAESCBC, 32, crypto.SHA384, crypto.SHA384},
	TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:   {"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", false, cipherAESCBC, 16, crypto.SHA256, crypto.SHA256},
	TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384:   {"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", false, cipherAESCBC, 32, crypto.SHA384, crypto.SHA384},
}

// String returns the suite's IANA name, or its number in hex when this
// package does not know it.
func (s Suite) String() string {
	if info, ok := suites[s]; ok {
		return info.name
	}
	return fmt.Sprintf("0x%04X", uint16(s))
}

// Supported reports whether records protected with s can be decrypted.
func (s Suite) Supported() bool {
	_, ok := suites[s]
	return ok
}

// newHash returns the constructor of h. Only the hashes in the suite table
// occur.
func newHash(h crypto.Hash) func() hash.Hash {
	switch h {
	case crypto.SHA1:
		return sha1.New
	case crypto.SHA384:
		return sha512.New384
	}
	return sha256.New
}

// blockSize is the block length of a CBC suite's cipher.
func (s suiteInfo) blockSize() int {
	if s.cipher == cipher3DESCBC {
		return des.BlockSize
	}
	return aes.BlockSize
}

// fixedIVLen is the length of the write IV taken from the TLS ≤ 1.2 key
// block: the 4-byte implicit salt of GCM (RFC 5288 §3), the 12-byte IV of
// ChaCha20-Poly1305 (RFC 7905 §2), and the CBC IV (used by TLS 1.0 only).
func (s suiteInfo) fixedIVLen() int {
	switch s.cipher {
	case cipherAESGCM:
		return 4
	case cipherChaCha20:
		return chacha20poly1305.NonceSize
	}
	return s.blockSize()
}

// newAEAD returns the AEAD of an AEAD suite keyed with key.
func (s suiteInfo) newAEAD(key []byte) (cipher.AEAD, error) {
	if s.cipher == cipherChaCha20 {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// newBlock returns the block cipher of a CBC suite keyed with key.
func (s suiteInfo) newBlock(key []byte) (cipher.Block, error) {
	if s.cipher == cipher3DESCBC {
		return des.NewTripleDESCipher(key)
	}
	return aes.NewCipher(key)
}
