package tlskeys

import (
	"crypto/cipher"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
)

// Record layer constants (RFC 8446 §5.1, §5.2; RFC 5246 §6.2).
const (
	// HeaderLength is the length of a record header: type, version, length.
	HeaderLength = 5
	// maxPlaintext is the largest record plaintext, 2^14.
	maxPlaintext = 1 << 14
	// maxCiphertext12 is the largest TLS ≤ 1.2 protected fragment,
	// 2^14 + 2048.
	maxCiphertext12 = maxPlaintext + 2048
	// maxCiphertext13 is the largest TLS 1.3 protected fragment, 2^14 + 256.
	maxCiphertext13 = maxPlaintext + 256
	// explicitNonceLength is the per-record nonce a TLS 1.2 AES-GCM
	// record carries before its ciphertext (RFC 5288 §3).
	explicitNonceLength = 8
)

// opener removes one direction's record protection under one set of keys.
// open decrypts and authenticates fragment, the record's body, whose
// 5-byte header is header, as the record with the first sequence number
// of seq, seq+1, ..., seq+tries-1 under which it authenticates (tries is 1
// but after records were lost); it appends the plaintext to dst[:0] and
// returns the sequence number that worked.
type opener interface {
	open(dst []byte, seq uint64, tries int, header, fragment []byte) ([]byte, uint64, error)
}

// aead13 is TLS 1.3 record protection (RFC 8446 §5.2, §5.3): the nonce is
// the IV XOR the sequence number, the additional data the record header.
type aead13 struct {
	aead  cipher.AEAD
	iv    [iv13Length]byte
	nonce [iv13Length]byte
}

func newAEAD13(suite Suite, secret Secret) (*aead13, error) {
	key, iv, err := TrafficKeys(suite, secret)
	if err != nil {
		return nil, err
	}
	a, err := suites[suite].newAEAD(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", suite, err)
	}
	o := &aead13{aead: a}
	copy(o.iv[:], iv)
	return o, nil
}

func (o *aead13) open(dst []byte, seq uint64, tries int, header, fragment []byte) ([]byte, uint64, error) {
	if len(fragment) > maxCiphertext13 || len(fragment) < o.aead.Overhead() {
		return nil, seq, fmt.Errorf("%w: a %d-byte protected TLS 1.3 record", ErrMalformedRecord, len(fragment))
	}
	for i := range uint64(max(tries, 1)) {
		xorSeq(o.nonce[:], o.iv[:], seq+i)
		if out, err := o.aead.Open(dst[:0], o.nonce[:], fragment, header); err == nil {
			return out, seq + i, nil
		}
	}
	return nil, seq, ErrBadRecordMAC
}

// xorSeq sets nonce to iv XOR the 64-bit sequence number left-padded with
// zeros to the IV's length (RFC 8446 §5.3, RFC 7905 §2).
func xorSeq(nonce, iv []byte, seq uint64) {
	copy(nonce, iv)
	n := len(nonce)
	for i := 0; i < 8; i++ {
		nonce[n-1-i] ^= byte(seq >> (8 * i))
	}
}

// aead12 is TLS 1.2 AEAD record protection: AES-GCM with a 4-byte implicit
// salt and an 8-byte explicit nonce in each record (RFC 5288 §3), or
// ChaCha20-Poly1305 with the IV XOR the sequence number (RFC 7905 §2). The
// additional data is seq_num ‖ type ‖ version ‖ plaintext length
// (RFC 5246 §6.2.3.3).
type aead12 struct {
	aead     cipher.AEAD
	iv       []byte
	explicit bool // AES-GCM: an explicit nonce precedes the ciphertext
	nonce    []byte
	ad       [13]byte
}

func newAEAD12(info suiteInfo, k blockKeys) (*aead12, error) {
	a, err := info.newAEAD(k.key)
	if err != nil {
		return nil, err
	}
	return &aead12{aead: a, iv: k.iv, explicit: info.cipher == cipherAESGCM, nonce: make([]byte, a.NonceSize())}, nil
}

func (o *aead12) open(dst []byte, seq uint64, tries int, header, fragment []byte) ([]byte, uint64, error) {
	min := o.aead.Overhead()
	if o.explicit {
		min += explicitNonceLength
	}
	if len(fragment) > maxCiphertext12 || len(fragment) < min {
		return nil, seq, fmt.Errorf("%w: a %d-byte protected record, want %d to %d", ErrMalformedRecord, len(fragment), min, maxCiphertext12)
	}
	if o.explicit {
		copy(o.nonce, o.iv)
		copy(o.nonce[len(o.iv):], fragment[:explicitNonceLength])
		fragment = fragment[explicitNonceLength:]
	}
	for i := range uint64(max(tries, 1)) {
		if !o.explicit {
			xorSeq(o.nonce, o.iv, seq+i)
		}
		additionalData(o.ad[:], seq+i, header, len(fragment)-o.aead.Overhead())
		if out, err := o.aead.Open(dst[:0], o.nonce, fragment, o.ad[:]); err == nil {
			return out, seq + i, nil
		}
	}
	return nil, seq, ErrBadRecordMAC
}

// additionalData fills ad (13 bytes) with seq_num ‖ type ‖ version ‖
// length, the MAC and AEAD input of RFC 5246 §6.2.3.
func additionalData(ad []byte, seq uint64, header []byte, length int) {
	binary.BigEndian.PutUint64(ad, seq)
	copy(ad[8:11], header[:3])
	binary.BigEndian.PutUint16(ad[11:], uint16(length))
}

// cbc is TLS 1.0–1.2 block cipher protection (RFC 5246 §6.2.3.2): a CBC
// cipher and an HMAC, MAC-then-encrypt, or encrypt-then-MAC when the
// encrypt_then_mac extension was negotiated (RFC 7366 §3). TLS 1.1 and 1.2
// records start with an explicit IV; TLS 1.0 chains the IV from the
// previous record's last ciphertext block (RFC 2246 §6.2.3.2).
type cbc struct {
	block      cipher.Block
	mac        hash.Hash
	etm        bool
	implicitIV []byte // TLS 1.0 only: the IV of the next record
	buf        []byte
	ad         [13]byte
	sum        []byte
}

func newCBC(version uint16, info suiteInfo, k blockKeys, etm bool) (*cbc, error) {
	b, err := info.newBlock(k.key)
	if err != nil {
		return nil, err
	}
	o := &cbc{block: b, mac: hmac.New(newHash(info.mac), k.mac), etm: etm}
	if version < VersionTLS11 {
		o.implicitIV = append([]byte(nil), k.iv...)
	}
	return o, nil
}

func (o *cbc) open(dst []byte, seq uint64, tries int, header, fragment []byte) ([]byte, uint64, error) {
	bs, macLen := o.block.BlockSize(), o.mac.Size()
	if len(fragment) > maxCiphertext12 {
		return nil, seq, fmt.Errorf("%w: a %d-byte protected record", ErrMalformedRecord, len(fragment))
	}
	tries = max(tries, 1)
	var tag []byte
	if o.etm {
		if len(fragment) < macLen {
			return nil, seq, fmt.Errorf("%w: a %d-byte encrypt-then-MAC record", ErrMalformedRecord, len(fragment))
		}
		fragment, tag = fragment[:len(fragment)-macLen], fragment[len(fragment)-macLen:]
		// Authenticate first (RFC 7366 §3): the MAC covers the IV and
		// the ciphertext.
		ok := false
		for i := range uint64(tries) {
			additionalData(o.ad[:], seq+i, header, len(fragment))
			if hmac.Equal(o.sum1(fragment), tag) {
				seq, ok = seq+i, true
				break
			}
		}
		if !ok {
			return nil, seq, ErrBadRecordMAC
		}
		tries = 1
	}
	var iv []byte
	if o.implicitIV != nil {
		iv = o.implicitIV
	} else {
		if len(fragment) < bs {
			return nil, seq, fmt.Errorf("%w: a %d-byte CBC record has no room for its IV", ErrMalformedRecord, len(fragment))
		}
		iv, fragment = fragment[:bs], fragment[bs:]
	}
	if len(fragment) == 0 || len(fragment)%bs != 0 {
		return nil, seq, fmt.Errorf("%w: %d bytes of CBC ciphertext, not a positive multiple of %d", ErrMalformedRecord, len(fragment), bs)
	}
	o.buf = append(o.buf[:0], fragment...)
	cipher.NewCBCDecrypter(o.block, iv).CryptBlocks(o.buf, o.buf)
	if o.implicitIV != nil {
		// TLS 1.0: the next record's IV is this one's last ciphertext
		// block, whether or not this one authenticates.
		copy(o.implicitIV, fragment[len(fragment)-bs:])
	}
	// Padding: its last byte says how many bytes before it repeat it.
	pad := int(o.buf[len(o.buf)-1])
	content := len(o.buf) - pad - 1
	if !o.etm {
		content -= macLen
	}
	if content < 0 {
		return nil, seq, ErrBadRecordMAC
	}
	for _, b := range o.buf[len(o.buf)-pad-1:] {
		if int(b) != pad {
			return nil, seq, ErrBadRecordMAC
		}
	}
	if !o.etm {
		// MAC-then-encrypt: the MAC is over the plaintext; only it
		// depends on the sequence number, so the record is decrypted
		// once whatever the number of tries.
		for i := range uint64(tries) {
			additionalData(o.ad[:], seq+i, header, content)
			if hmac.Equal(o.sum1(o.buf[:content]), o.buf[content:content+macLen]) {
				return append(dst[:0], o.buf[:content]...), seq + i, nil
			}
		}
		return nil, seq, ErrBadRecordMAC
	}
	return append(dst[:0], o.buf[:content]...), seq, nil
}

// sum1 returns HMAC(ad ‖ data) with the ad already filled in.
func (o *cbc) sum1(data []byte) []byte {
	o.mac.Reset()
	o.mac.Write(o.ad[:])
	o.mac.Write(data)
	o.sum = o.mac.Sum(o.sum[:0])
	return o.sum
}

// errNoOpener is returned by a nil opener: the keys of this epoch are
// missing from the key log.
var errNoOpener = errors.New("no keys for this epoch")
