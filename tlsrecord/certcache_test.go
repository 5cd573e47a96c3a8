package tlsrecord

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"reflect"
	"testing"
	"time"
)

// selfSigned returns a self-signed ed25519 certificate for name, valid
// from notBefore for a year.
func selfSigned(t *testing.T, name string, notBefore time.Time) []byte {
	t.Helper()
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: notBefore, NotAfter: notBefore.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestCertificateCache checks that a certificate read through the cache
// is what reading it anew gives, at any capture time (the validity is
// judged per connection), that a damaged one is cached as damaged, and
// that the cache starts again when full.
func TestCertificateCache(t *testing.T) {
	from := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	der := selfSigned(t, "mx.example.net", from)
	damaged := der[:len(der)/2]
	var cache CertificateCache
	for _, tt := range []struct {
		name string
		der  []byte
		at   time.Time
	}{
		{"first read", der, from.Add(time.Hour)},
		{"again, valid", der, from.Add(48 * time.Hour)},
		{"again, expired", der, from.AddDate(2, 0, 0)},
		{"again, not yet valid", der, from.Add(-time.Hour)},
		{"again, no time", der, time.Time{}},
		{"damaged", damaged, from},
		{"damaged again", damaged, from},
	} {
		got, want := certificate(tt.der, tt.at, &cache), certificate(tt.der, tt.at, nil)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: certificate through the cache = %+v, want %+v", tt.name, got, want)
		}
	}
	if got := certificate(der, from, &cache); !got.SelfSigned || got.ExpiredAtCapture || got.ParseError != "" {
		t.Errorf("certificate = %+v, want self-signed, valid", got)
	}
	if _, ok := cache.lookup(der); !ok {
		t.Error("the certificate is not kept")
	}
	if _, ok := cache.lookup(damaged); !ok {
		t.Error("the damaged certificate is not kept")
	}
	for i := range MaxCachedCertificates {
		cache.keep([]byte{byte(i), byte(i >> 8)}, Certificate{})
	}
	if n := len(cache.certs); n > MaxCachedCertificates {
		t.Errorf("the cache holds %d certificates, want at most %d", n, MaxCachedCertificates)
	}
}
