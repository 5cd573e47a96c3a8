package tlsrecord

import "sync"

// MaxCachedCertificates bounds the certificates a CertificateCache keeps;
// when it is full it starts again empty.
const MaxCachedCertificates = 256

// CertificateCache keeps what was read of each DER certificate seen, so
// that the connections of a run showing the same server certificate (a
// server sends the same one to every client) parse it and check its
// signature once: crypto/x509's parse and signature check cost a TLS
// session more than the rest of its analysis. What a certificate's
// Certificate says besides ExpiredAtCapture and NotYetValid depends on its
// bytes alone, so a cached one is what a new parse would give. The zero
// value is ready to use; it is safe for concurrent use. The Certificates
// it hands out share their slices: read them, never change them.
type CertificateCache struct {
	mu    sync.Mutex
	certs map[string]Certificate
}

// lookup returns what was read of der, if it is kept. A nil cache keeps
// nothing.
func (c *CertificateCache) lookup(der []byte) (Certificate, bool) {
	if c == nil {
		return Certificate{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cert, ok := c.certs[string(der)]
	return cert, ok
}

// keep keeps what was read of der.
func (c *CertificateCache) keep(der []byte, cert Certificate) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.certs == nil || len(c.certs) >= MaxCachedCertificates {
		c.certs = make(map[string]Certificate)
	}
	c.certs[string(der)] = cert
}
