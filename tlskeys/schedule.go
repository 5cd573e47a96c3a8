package tlskeys

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
)

// ExpandLabel is HKDF-Expand-Label of RFC 8446 §7.1:
//
//	HKDF-Expand-Label(Secret, Label, Context, Length) =
//	    HKDF-Expand(Secret, HkdfLabel, Length)
//	HkdfLabel = uint16 length ‖ opaque label<7..255> = "tls13 " + Label ‖ opaque context<0..255>
func ExpandLabel(h func() hash.Hash, secret Secret, label string, context []byte, length int) (Secret, error) {
	full := "tls13 " + label
	if len(full) > 255 || len(context) > 255 || length < 0 || length > 0xffff {
		return nil, errors.New("HKDF-Expand-Label: label, context or length out of range")
	}
	info := make([]byte, 0, 2+1+len(full)+1+len(context))
	info = append(info, byte(length>>8), byte(length), byte(len(full)))
	info = append(info, full...)
	info = append(info, byte(len(context)))
	info = append(info, context...)
	out, err := hkdf.Expand(h, secret, string(info), length)
	if err != nil {
		return nil, fmt.Errorf("HKDF-Expand-Label %q: %w", label, err)
	}
	return out, nil
}

// iv13Length is the per-record nonce length of every TLS 1.3 AEAD
// (RFC 8446 §5.3: max(8 bytes, N_MIN) = 12 for the suites defined).
const iv13Length = 12

// TrafficKeys derives the write key and IV of a TLS 1.3 traffic secret
// (RFC 8446 §7.3): key = HKDF-Expand-Label(secret, "key", "", key_length),
// iv = HKDF-Expand-Label(secret, "iv", "", 12).
func TrafficKeys(suite Suite, secret Secret) (key, iv Secret, err error) {
	info, ok := suites[suite]
	if !ok || !info.tls13 {
		return nil, nil, fmt.Errorf("%w: %s is not a TLS 1.3 suite", ErrUnknownSuite, suite)
	}
	h := newHash(info.prf)
	if len(secret) != h().Size() {
		return nil, nil, fmt.Errorf("%w: a %d-byte traffic secret for %s, want %d", ErrMissingSecret, len(secret), suite, h().Size())
	}
	if key, err = ExpandLabel(h, secret, "key", nil, info.keyLen); err != nil {
		return nil, nil, err
	}
	if iv, err = ExpandLabel(h, secret, "iv", nil, iv13Length); err != nil {
		return nil, nil, err
	}
	return key, iv, nil
}

// NextTrafficSecret is the application traffic secret after a KeyUpdate
// (RFC 8446 §7.2): HKDF-Expand-Label(current, "traffic upd", "", Hash.length).
func NextTrafficSecret(suite Suite, secret Secret) (Secret, error) {
	info, ok := suites[suite]
	if !ok || !info.tls13 {
		return nil, fmt.Errorf("%w: %s is not a TLS 1.3 suite", ErrUnknownSuite, suite)
	}
	h := newHash(info.prf)
	return ExpandLabel(h, secret, "traffic upd", nil, h().Size())
}

// pHash is P_hash of RFC 5246 §5, the HMAC chain the PRF is built from:
//
//	P_hash(secret, seed) = HMAC_hash(secret, A(1) + seed) + HMAC_hash(secret, A(2) + seed) + ...
//	A(0) = seed, A(i) = HMAC_hash(secret, A(i-1))
func pHash(out []byte, h func() hash.Hash, secret, seed []byte) {
	mac := hmac.New(h, secret)
	mac.Write(seed)
	a := mac.Sum(nil)
	for done := 0; done < len(out); {
		mac.Reset()
		mac.Write(a)
		mac.Write(seed)
		done += copy(out[done:], mac.Sum(nil))
		mac.Reset()
		mac.Write(a)
		a = mac.Sum(a[:0])
	}
}

// PRF is the TLS PRF: PRF(secret, label, seed) = P_<hash>(secret, label ‖ seed)
// for TLS 1.2 (RFC 5246 §5), with h the suite's PRF hash; for TLS 1.0 and
// 1.1 (version below VersionTLS12) it is P_MD5(S1, label ‖ seed) XOR
// P_SHA-1(S2, label ‖ seed) over the two halves of the secret (RFC 2246 §5)
// and h is ignored.
func PRF(version uint16, h func() hash.Hash, secret Secret, label string, seed []byte, length int) Secret {
	labelSeed := make([]byte, 0, len(label)+len(seed))
	labelSeed = append(append(labelSeed, label...), seed...)
	out := make(Secret, length)
	if version >= VersionTLS12 {
		pHash(out, h, secret, labelSeed)
		return out
	}
	// The halves overlap by one byte when the secret's length is odd.
	half := (len(secret) + 1) / 2
	pHash(out, md5.New, secret[:half], labelSeed)
	sha := make([]byte, length)
	pHash(sha, sha1.New, secret[len(secret)-half:], labelSeed)
	for i := range out {
		out[i] ^= sha[i]
	}
	return out
}

// blockKeys are one direction's keys from a TLS ≤ 1.2 key block.
type blockKeys struct {
	mac, key, iv Secret
}

// KeyBlock expands a TLS ≤ 1.2 master secret into the client's and the
// server's write keys (RFC 5246 §6.3):
//
//	key_block = PRF(master_secret, "key expansion", server_random ‖ client_random)
//
// cut in order into client MAC key, server MAC key, client key, server key,
// client IV, server IV. It returns the keys as MAC key ‖ key ‖ IV per side.
func KeyBlock(version uint16, suite Suite, master Secret, client, server Random) (clientKeys, serverKeys Secret, err error) {
	c, s, err := keyBlock(version, suite, master, client, server)
	if err != nil {
		return nil, nil, err
	}
	join := func(k blockKeys) Secret {
		return append(append(append(Secret{}, k.mac...), k.key...), k.iv...)
	}
	return join(c), join(s), nil
}

func keyBlock(version uint16, suite Suite, master Secret, client, server Random) (c, s blockKeys, err error) {
	info, ok := suites[suite]
	if !ok || info.tls13 {
		return c, s, fmt.Errorf("%w: %s is not a TLS 1.0–1.2 suite", ErrUnknownSuite, suite)
	}
	if len(master) != masterSecretLength {
		return c, s, fmt.Errorf("%w: a %d-byte master secret, want %d", ErrMissingSecret, len(master), masterSecretLength)
	}
	macLen := 0
	if info.mac != 0 {
		macLen = info.mac.Size()
	}
	ivLen := info.fixedIVLen()
	seed := make([]byte, 0, 64)
	seed = append(append(seed, server[:]...), client[:]...)
	kb := PRF(version, newHash(info.prf), master, "key expansion", seed, 2*(macLen+info.keyLen+ivLen))
	next := func(n int) Secret {
		out := kb[:n:n]
		kb = kb[n:]
		return out
	}
	c.mac, s.mac = next(macLen), next(macLen)
	c.key, s.key = next(info.keyLen), next(info.keyLen)
	c.iv, s.iv = next(ivLen), next(ivLen)
	return c, s, nil
}
