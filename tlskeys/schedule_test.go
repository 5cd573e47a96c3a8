package tlskeys

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"
	"testing"
)

// unhex decodes hex written with or without spaces and colons, as RFCs and
// tools print it.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", ":", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// RFC 8448 §3 ("Simple 1-RTT Handshake", TLS_AES_128_GCM_SHA256): the four
// traffic secrets (the "PRK" of each "derive ... traffic keys" step, equal
// to the "expanded" of the matching "derive secret" step) and the key and
// IV derived from each.
var rfc8448Keys = []struct {
	step            string
	secret, key, iv string
}{
	{
		"{server}  derive write traffic keys for handshake data",
		"b6 7b 7d 69 0c c1 6c 4e 75 e5 42 13 cb 2d 37 b4 e9 c9 12 bc de d9 10 5d 42 be fd 59 d3 91 ad 38",
		"3f ce 51 60 09 c2 17 27 d0 f2 e4 e8 6e e4 03 bc",
		"5d 31 3e b2 67 12 76 ee 13 00 0b 30",
	},
	{
		"{server}  derive read traffic keys for handshake data",
		"b3 ed db 12 6e 06 7f 35 a7 80 b3 ab f4 5e 2d 8f 3b 1a 95 07 38 f5 2e 96 00 74 6a 0e 27 a5 5a 21",
		"db fa a6 93 d1 76 2c 5b 66 6a f5 d9 50 25 8d 01",
		"5b d3 c7 1b 83 6e 0b 76 bb 73 26 5f",
	},
	{
		"{server}  derive write traffic keys for application data",
		"a1 1a f9 f0 55 31 f8 56 ad 47 11 6b 45 a9 50 32 82 04 b4 f4 4b fb 6b 3a 4b 4f 1f 3f cb 63 16 43",
		"9f 02 28 3b 6c 9c 07 ef c2 6b b9 f2 ac 92 e3 56",
		"cf 78 2b 88 dd 83 54 9a ad f1 e9 84",
	},
	{
		"{client}  derive write traffic keys for application data",
		"9e 40 64 6c e7 9a 7f 9d c0 5a f8 88 9b ce 65 52 87 5a fa 0b 06 df 00 87 f7 92 eb b7 c1 75 04 a5",
		"17 42 2d da 59 6e d5 d9 ac d8 90 e3 c6 3f 50 51",
		"5b 78 92 3d ee 08 57 90 33 e5 23 d9",
	},
}

func TestTrafficKeysRFC8448(t *testing.T) {
	for _, tt := range rfc8448Keys {
		key, iv, err := TrafficKeys(TLS_AES_128_GCM_SHA256, unhex(t, tt.secret))
		if err != nil {
			t.Fatalf("%s: %v", tt.step, err)
		}
		if !bytes.Equal(key, unhex(t, tt.key)) || !bytes.Equal(iv, unhex(t, tt.iv)) {
			t.Errorf("%s: TrafficKeys gave key %x iv %x, want %s / %s", tt.step, []byte(key), []byte(iv), tt.key, tt.iv)
		}
	}
}

// TestExpandLabelRejects: lengths HkdfLabel cannot encode are errors, not
// truncations. (The encoding itself is checked by TestTrafficKeysRFC8448.)
func TestExpandLabelRejects(t *testing.T) {
	if _, err := ExpandLabel(sha256.New, make(Secret, 32), strings.Repeat("x", 250), nil, 16); err == nil {
		t.Error("a 256-byte label was accepted")
	}
	if _, err := ExpandLabel(sha256.New, make(Secret, 32), "key", make([]byte, 256), 16); err == nil {
		t.Error("a 256-byte context was accepted")
	}
	if _, err := ExpandLabel(sha256.New, make(Secret, 32), "key", nil, 255*32+1); err == nil {
		t.Error("HKDF-Expand past 255 blocks was accepted")
	}
}

func TestTrafficKeysErrors(t *testing.T) {
	if _, _, err := TrafficKeys(TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, make(Secret, 32)); err == nil {
		t.Error("TrafficKeys accepted a TLS 1.2 suite")
	}
	if _, _, err := TrafficKeys(TLS_AES_256_GCM_SHA384, make(Secret, 32)); err == nil {
		t.Error("TrafficKeys accepted a 32-byte secret for a SHA-384 suite")
	}
}

// TestNextTrafficSecretLength: the KeyUpdate secret is Hash.length long
// and differs from the current one. (RFC 8448 has no KeyUpdate; KeyUpdate
// is tested end to end on openssl's KeyUpdate in the lab captures.)
func TestNextTrafficSecret(t *testing.T) {
	for _, s := range []Suite{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
		n := 32
		if s == TLS_AES_256_GCM_SHA384 {
			n = 48
		}
		cur := bytes.Repeat([]byte{7}, n)
		next, err := NextTrafficSecret(s, cur)
		if err != nil || len(next) != n || bytes.Equal(next, cur) {
			t.Errorf("NextTrafficSecret(%s) = %d bytes, %v", s, len(next), err)
		}
	}
}

func TestPRF(t *testing.T) {
	tests := []struct {
		name    string
		version uint16
		h       func() hash.Hash
		secret  string
		label   string
		seed    string
		want    string
	}{
		{
			// The TLS 1.2 P_SHA256 vector posted to the IETF TLS WG list
			// (https://www.ietf.org/mail-archive/web/tls/current/msg03416.html),
			// the same output as `openssl kdf -keylen 100 -kdfopt digest:SHA2-256
			// -kdfopt hexsecret:9bbe... -kdfopt seed:"test label" -kdfopt
			// hexseed:a0ba... TLS1-PRF` (OpenSSL 3.0.19).
			"TLS 1.2 P_SHA256", VersionTLS12, sha256.New,
			"9bbe436ba940f017b17652849a71db35", "test label", "a0ba9f936cda311827a6f796ffd5198c",
			"e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66",
		},
		{
			// `openssl kdf -keylen 148 -kdfopt digest:SHA2-384 -kdfopt
			// hexsecret:b80b733d6ceefcdc71566ea48e5567df -kdfopt seed:"test label"
			// -kdfopt hexseed:cd665cf6a8447dd6ff8b27555edb7465 TLS1-PRF`
			"TLS 1.2 P_SHA384", VersionTLS12, sha512.New384,
			"b80b733d6ceefcdc71566ea48e5567df", "test label", "cd665cf6a8447dd6ff8b27555edb7465",
			"7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d9184259b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e0990703d73e56f",
		},
		{
			// TLS 1.0/1.1 PRF, MD5 ⊕ SHA-1 over an odd-length secret (the
			// halves share a byte): `openssl kdf -keylen 64 -kdfopt
			// digest:MD5-SHA1 -kdfopt hexsecret:000102...14 -kdfopt
			// seed:"key expansion" -kdfopt hexseed:a0ba... TLS1-PRF`
			"TLS 1.0 MD5/SHA-1", VersionTLS10, nil,
			"000102030405060708090a0b0c0d0e0f1011121314", "key expansion", "a0ba9f936cda311827a6f796ffd5198c",
			"6025611a94a370fbf28aef2b267079fb13f89781529f3de0b530533fa37a75de30c7888d091859fc61e47386714297dc9f6a480bf636d6b7cf24cdf60fd5f93d",
		},
	}
	for _, tt := range tests {
		want := unhex(t, tt.want)
		got := PRF(tt.version, tt.h, unhex(t, tt.secret), tt.label, unhex(t, tt.seed), len(want))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: PRF = %x, want %x", tt.name, []byte(got), want)
		}
	}
}

func TestKeyBlockLayout(t *testing.T) {
	master := bytes.Repeat([]byte{1}, 48)
	var c, s Random
	c[0], s[0] = 1, 2
	tests := []struct {
		suite   Suite
		version uint16
		perSide int
	}{
		{TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, VersionTLS12, 16 + 4},
		{TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, VersionTLS12, 32 + 4},
		{TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, VersionTLS12, 32 + 12},
		{TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, VersionTLS12, 20 + 16 + 16},
		{TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, VersionTLS12, 48 + 32 + 16},
		{TLS_RSA_WITH_3DES_EDE_CBC_SHA, VersionTLS10, 20 + 24 + 8},
	}
	for _, tt := range tests {
		ck, sk, err := KeyBlock(tt.version, tt.suite, master, c, s)
		if err != nil {
			t.Fatalf("%s: %v", tt.suite, err)
		}
		if len(ck) != tt.perSide || len(sk) != tt.perSide {
			t.Errorf("%s: %d and %d bytes per side, want %d", tt.suite, len(ck), len(sk), tt.perSide)
		}
		// The block is one PRF output cut in order: client MAC, server
		// MAC, client key, server key, client IV, server IV.
		info := suites[tt.suite]
		macLen := 0
		if info.mac != 0 {
			macLen = info.mac.Size()
		}
		kb := PRF(tt.version, newHash(info.prf), master, "key expansion", append(append([]byte{}, s[:]...), c[:]...), 2*tt.perSide)
		wantC := append(append(append([]byte{}, kb[:macLen]...), kb[2*macLen:2*macLen+info.keyLen]...), kb[2*macLen+2*info.keyLen:2*macLen+2*info.keyLen+info.fixedIVLen()]...)
		if !bytes.Equal(ck, wantC) {
			t.Errorf("%s: client keys are not cut from the key block in RFC 5246 §6.3's order", tt.suite)
		}
	}
}
