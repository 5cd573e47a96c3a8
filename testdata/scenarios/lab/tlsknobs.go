package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
)

// TLS knobs shared by server and client: protocol version bounds and key
// logs (NSS key log format, what SSLKEYLOGFILE writes), and the server-side
// wrappers that refuse or hide STARTTLS.

// tlsVersion parses "", "1.0" ... "1.3" into a crypto/tls version (0: Go's
// default).
func tlsVersion(s string) (uint16, error) {
	switch s {
	case "":
		return 0, nil
	case "1.0":
		return tls.VersionTLS10, nil
	case "1.1":
		return tls.VersionTLS11, nil
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("unknown TLS version %q (want 1.0, 1.1, 1.2 or 1.3)", s)
}

// applyTLSKnobs sets version bounds and a key log on cfg. The returned
// closer closes the key log file.
func applyTLSKnobs(cfg *tls.Config, minV, maxV, keylog string) (io.Closer, error) {
	var err error
	if cfg.MinVersion, err = tlsVersion(minV); err != nil {
		return nil, err
	}
	if cfg.MaxVersion, err = tlsVersion(maxV); err != nil {
		return nil, err
	}
	if keylog == "" {
		return io.NopCloser(nil), nil
	}
	f, err := os.OpenFile(keylog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cfg.KeyLogWriter = f
	return f, nil
}

// middlebox wraps a server connection to act as what sits in front of
// some servers: refuseCode != 0 answers a STARTTLS command with that code
// itself (as a server without a usable certificate does: RFC 3207 §4,
// "454 TLS not available due to temporary reason"), so go-smtp never sees
// it; mask rewrites the STARTTLS keyword of EHLO replies to XXXXXXXA, as
// Cisco ASA's ESMTP inspection does with the extensions it does not allow
// (same length, so TCP sequence numbers stay right).
type middlebox struct {
	*loggedConn
	refuseCode int
	mask       bool
}

var (
	starttlsCmd   = []byte("STARTTLS\r\n")
	starttlsExt   = []byte("250-STARTTLS\r\n")
	starttlsLast  = []byte("250 STARTTLS\r\n")
	maskedExt     = []byte("250-XXXXXXXA\r\n")
	maskedExtLast = []byte("250 XXXXXXXA\r\n")
)

func (m *middlebox) Read(p []byte) (int, error) {
	for {
		n, err := m.loggedConn.Read(p)
		if m.refuseCode == 0 || n == 0 || !bytes.EqualFold(p[:n], starttlsCmd) {
			return n, err
		}
		m.log.emit(map[string]any{"event": "command", "conn": m.id, "line": "STARTTLS"})
		line := fmt.Sprintf("%d 4.7.0 TLS not available due to temporary reason", m.refuseCode)
		if _, werr := fmt.Fprintf(m.loggedConn, "%s\r\n", line); werr != nil {
			return 0, werr
		}
		m.log.emit(map[string]any{"event": "reply", "conn": m.id, "stage": "starttls", "line": line, "code": m.refuseCode})
		if err != nil {
			return 0, err
		}
	}
}

func (m *middlebox) Write(p []byte) (int, error) {
	if m.mask && (bytes.Contains(p, starttlsExt) || bytes.Contains(p, starttlsLast)) {
		q := bytes.ReplaceAll(p, starttlsExt, maskedExt)
		q = bytes.ReplaceAll(q, starttlsLast, maskedExtLast)
		m.log.emit(map[string]any{"event": "masked", "conn": m.id, "what": "STARTTLS in the EHLO reply, as XXXXXXXA"})
		return m.loggedConn.Write(q)
	}
	return m.loggedConn.Write(p)
}

// NetConn lets backend.NewSession find the loggedConn.
func (m *middlebox) NetConn() net.Conn { return m.loggedConn }
