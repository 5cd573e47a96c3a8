package tlskeys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// Benchmarks of one full-size (16 KiB) record through each kind of
// protection, the per-record cost of decryption. The records are sealed
// here with the same keys (a round trip; correctness is tested against
// RFC 8448, Go's crypto/tls and the lab captures).

const benchPlaintext = 1 << 14

func benchHeader(typ ContentType, n int) []byte {
	return []byte{byte(typ), 3, 3, byte(n >> 8), byte(n)}
}

func BenchmarkOpenTLS13AES128GCM(b *testing.B) {
	secret := make(Secret, 32)
	o, err := newAEAD13(TLS_AES_128_GCM_SHA256, secret)
	if err != nil {
		b.Fatal(err)
	}
	plain := append(make([]byte, benchPlaintext), byte(ApplicationData))
	n := len(plain) + o.aead.Overhead()
	header := benchHeader(ApplicationData, n)
	xorSeq(o.nonce[:], o.iv[:], 0)
	body := o.aead.Seal(nil, o.nonce[:], plain, header)
	buf := make([]byte, 0, n)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.open(buf, 0, 1, header, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenTLS12AES128GCM(b *testing.B) {
	info := suites[TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
	k := blockKeys{key: make(Secret, 16), iv: make(Secret, 4)}
	o, err := newAEAD12(info, k)
	if err != nil {
		b.Fatal(err)
	}
	plain := make([]byte, benchPlaintext)
	header := benchHeader(ApplicationData, explicitNonceLength+len(plain)+16)
	explicit := make([]byte, explicitNonceLength)
	var ad [13]byte
	additionalData(ad[:], 0, header, len(plain))
	nonce := append(append([]byte{}, k.iv...), explicit...)
	body := o.aead.Seal(append([]byte{}, explicit...), nonce, plain, ad[:])
	buf := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.open(buf, 0, 1, header, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenTLS12AES128CBCSHA256(b *testing.B) {
	info := suites[TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256]
	k := blockKeys{mac: make(Secret, 32), key: make(Secret, 16), iv: make(Secret, 16)}
	o, err := newCBC(VersionTLS12, info, k, false)
	if err != nil {
		b.Fatal(err)
	}
	// MAC-then-encrypt: content ‖ MAC ‖ padding, then CBC with an
	// explicit IV.
	content := make([]byte, benchPlaintext)
	mac := hmac.New(sha256.New, k.mac)
	var ad [13]byte
	binary.BigEndian.PutUint64(ad[:], 0)
	ad[8], ad[9], ad[10] = byte(ApplicationData), 3, 3
	binary.BigEndian.PutUint16(ad[11:], uint16(len(content)))
	mac.Write(ad[:])
	mac.Write(content)
	plain := mac.Sum(append([]byte{}, content...))
	pad := 16 - (len(plain)+1)%16
	for range pad + 1 {
		plain = append(plain, byte(pad))
	}
	block, _ := aes.NewCipher(k.key)
	iv := make([]byte, 16)
	ct := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
	body := append(iv, ct...)
	header := benchHeader(ApplicationData, len(body))
	buf := make([]byte, 0, len(body))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.open(buf, 0, 1, header, body); err != nil {
			b.Fatal(err)
		}
	}
}
