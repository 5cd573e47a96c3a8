package tlskeys

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingConn keeps a copy of every byte written through it.
type recordingConn struct {
	net.Conn
	mu   sync.Mutex
	sent bytes.Buffer
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.sent.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *recordingConn) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.sent.Bytes()...)
}

// splitRecords cuts a byte stream into whole records (test helper; the
// product's record framing lives elsewhere).
func splitRecords(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(stream) > 0 {
		if len(stream) < HeaderLength {
			t.Fatalf("%d bytes left over, less than a header", len(stream))
		}
		n := HeaderLength + (int(stream[3])<<8 | int(stream[4]))
		if n > len(stream) {
			t.Fatalf("a %d-byte record with %d bytes left", n, len(stream))
		}
		out = append(out, stream[:n])
		stream = stream[n:]
	}
	return out
}

// helloRandom returns the random of the Hello message that starts the
// first record of a direction: record header (5), handshake header (4),
// legacy_version (2), then 32 bytes of random.
func helloRandom(t testing.TB, first []byte) Random {
	t.Helper()
	var r Random
	if len(first) < 43 || first[0] != byte(Handshake) {
		t.Fatalf("the first record is not a Hello: %x", first[:min(len(first), 12)])
	}
	copy(r[:], first[11:43])
	return r
}

func selfSigned(t testing.TB, rsaKey bool) tls.Certificate {
	t.Helper()
	var key any
	var pub any
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	} else {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		key, pub = k, &k.PublicKey
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mx.lab.test"},
		DNSNames:     []string{"mx.lab.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// goSession runs one SMTP-like exchange between Go's crypto/tls client and
// server and returns what each side wrote, the key log the client wrote,
// and the negotiated state.
type goSession struct {
	client, server []byte
	keyLog         []byte
	state          tls.ConnectionState
}

func runGoTLS(t *testing.T, cert tls.Certificate, version uint16, suite uint16) goSession {
	t.Helper()
	cc, sc := net.Pipe()
	crec, srec := &recordingConn{Conn: cc}, &recordingConn{Conn: sc}
	var keyLog bytes.Buffer
	clientConf := &tls.Config{InsecureSkipVerify: true, KeyLogWriter: &keyLog, MinVersion: version, MaxVersion: version}
	serverConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version}
	if suite != 0 {
		clientConf.CipherSuites = []uint16{suite}
		serverConf.CipherSuites = []uint16{suite}
	}
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(srec, serverConf)
		defer s.Close()
		buf := make([]byte, 64)
		if _, err := io.ReadFull(s, buf[:13]); err != nil {
			errc <- err
			return
		}
		if _, err := s.Write([]byte("250 mx.lab.test\r\n")); err != nil {
			errc <- err
			return
		}
		_, err := io.ReadFull(s, buf[:6]) // QUIT\r\n
		if err == nil {
			_, err = s.Write([]byte("221 bye\r\n"))
		}
		errc <- err
	}()
	c := tls.Client(crec, clientConf)
	if _, err := c.Write([]byte("EHLO client\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if _, err := io.ReadFull(c, buf[:17]); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("QUIT\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, buf[:9]); err != nil {
		t.Fatal(err)
	}
	state := c.ConnectionState()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The server closed first (close_notify); drain it, then close.
	go io.Copy(io.Discard, c)
	c.Close()
	return goSession{client: crec.bytes(), server: srec.bytes(), keyLog: keyLog.Bytes(), state: state}
}

// TestDecrypterGoTLS decrypts both directions of sessions between Go's
// crypto/tls client and server, for each suite Go can be told to use,
// with the key log Go's KeyLogWriter wrote.
func TestDecrypterGoTLS(t *testing.T) {
	ecdsaCert, rsaCert := selfSigned(t, false), selfSigned(t, true)
	tests := []struct {
		version uint16
		suite   uint16
		cert    tls.Certificate
	}{
		{tls.VersionTLS13, 0, ecdsaCert}, // Go chooses the TLS 1.3 suite
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, rsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, rsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, rsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, rsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, ecdsaCert},
		{tls.VersionTLS11, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, rsaCert},
		{tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, rsaCert},
	}
	for _, tt := range tests {
		name := tls.VersionName(tt.version) + " " + tls.CipherSuiteName(tt.suite)
		t.Run(name, func(t *testing.T) {
			s := runGoTLS(t, tt.cert, tt.version, tt.suite)
			if s.state.Version != tt.version || (tt.suite != 0 && s.state.CipherSuite != tt.suite) {
				t.Fatalf("negotiated %s %s", tls.VersionName(s.state.Version), tls.CipherSuiteName(s.state.CipherSuite))
			}
			keys := NewKeyLog()
			keys.Add("go", s.keyLog)
			clientRecs, serverRecs := splitRecords(t, s.client), splitRecords(t, s.server)
			session := Session{
				Version:      s.state.Version,
				Suite:        Suite(s.state.CipherSuite),
				ClientRandom: helloRandom(t, clientRecs[0]),
				ServerRandom: helloRandom(t, serverRecs[0]),
			}
			for _, side := range []struct {
				dir     Direction
				records [][]byte
				want    string
			}{
				{ClientToServer, clientRecs, "EHLO client\r\nQUIT\r\n"},
				{ServerToClient, serverRecs, "250 mx.lab.test\r\n221 bye\r\n"},
			} {
				d, err := NewDecrypter(keys, session, side.dir)
				if err != nil {
					t.Fatal(err)
				}
				var data []byte
				var alerts, finished int
				for i, rec := range side.records {
					got, err := d.Decrypt(rec)
					if err != nil {
						t.Fatalf("%s record %d: %v", side.dir, i, err)
					}
					switch {
					case got.Type == ApplicationData:
						data = append(data, got.Data...)
					case got.Type == Alert && got.Protected():
						alerts++
					case got.Type == Handshake && got.Protected() && len(got.Data) > 0 && got.Data[0] == handshakeFinished:
						finished++
					}
				}
				if string(data) != side.want {
					t.Errorf("%s: decrypted %q, want %q", side.dir, data, side.want)
				}
				if finished != 1 {
					t.Errorf("%s: %d protected Finished messages decrypted, want 1", side.dir, finished)
				}
				if side.dir == ServerToClient && alerts != 1 {
					t.Errorf("%s: %d protected alerts (close_notify), want 1", side.dir, alerts)
				}
			}
		})
	}
}

// TestDecrypterWrongKey: a key log whose secret is wrong yields bad record
// MACs, never a plaintext.
func TestDecrypterWrongKey(t *testing.T) {
	cert := selfSigned(t, false)
	for _, version := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		s := runGoTLS(t, cert, version, 0)
		clientRecs, serverRecs := splitRecords(t, s.client), splitRecords(t, s.server)
		// Replace every secret with its bytes reversed.
		keys := NewKeyLog()
		good := NewKeyLog()
		good.Add("go", s.keyLog)
		for r, k := range good.keys {
			line := func(label string, sec Secret) {
				if sec == nil {
					return
				}
				rev := make([]byte, len(sec))
				for i := range sec {
					rev[i] = sec[len(sec)-1-i]
				}
				keys.Add("bad", []byte(label+" "+r.String()+" "+hexString(rev)+"\n"))
			}
			line("CLIENT_RANDOM", k.MasterSecret)
			line("SERVER_HANDSHAKE_TRAFFIC_SECRET", k.ServerHandshake)
			line("SERVER_TRAFFIC_SECRET_0", k.ServerTraffic0)
		}
		session := Session{Version: s.state.Version, Suite: Suite(s.state.CipherSuite), ClientRandom: helloRandom(t, clientRecs[0]), ServerRandom: helloRandom(t, serverRecs[0])}
		d, err := NewDecrypter(keys, session, ServerToClient)
		if err != nil {
			t.Fatal(err)
		}
		var bad, plain int
		for _, rec := range serverRecs {
			got, err := d.Decrypt(rec)
			switch {
			case errors.Is(err, ErrBadRecordMAC):
				bad++
			case err != nil:
				t.Fatalf("%s: %v", tls.VersionName(version), err)
			case got.Protected():
				plain++
			}
		}
		if bad == 0 || plain != 0 {
			t.Errorf("%s: %d bad MACs, %d records decrypted with a wrong key", tls.VersionName(version), bad, plain)
		}
	}
}

// TestDecrypterLostRecords drops the server's "250" record, as a capture
// gap would: without Lost the next record fails; with Lost it is found at
// its sequence number and decryption goes on. TLS 1.0 chains its CBC IV
// through the lost record, so there the first record after the loss fails
// and the one after it decrypts.
func TestDecrypterLostRecords(t *testing.T) {
	ecdsaCert, rsaCert := selfSigned(t, false), selfSigned(t, true)
	for _, tt := range []struct {
		version uint16
		suite   uint16
		cert    tls.Certificate
	}{
		{tls.VersionTLS13, 0, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, ecdsaCert},
		{tls.VersionTLS12, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, rsaCert},
		{tls.VersionTLS10, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, rsaCert},
	} {
		t.Run(tls.VersionName(tt.version)+" "+tls.CipherSuiteName(tt.suite), func(t *testing.T) {
			s := runGoTLS(t, tt.cert, tt.version, tt.suite)
			keys := NewKeyLog()
			keys.Add("go", s.keyLog)
			clientRecs, serverRecs := splitRecords(t, s.client), splitRecords(t, s.server)
			session := Session{Version: s.state.Version, Suite: Suite(s.state.CipherSuite), ClientRandom: helloRandom(t, clientRecs[0]), ServerRandom: helloRandom(t, serverRecs[0])}
			// Find the "250" record with a decrypter that sees everything.
			d, _ := NewDecrypter(keys, session, ServerToClient)
			drop := -1
			var seqs []uint64
			for i, rec := range serverRecs {
				got, err := d.Decrypt(rec)
				if err != nil {
					t.Fatal(err)
				}
				seqs = append(seqs, got.Seq)
				// (Go splits TLS 1.0 CBC records 1/n-1: "2", "50 mx...".)
				if got.Type == ApplicationData && strings.HasSuffix(string(got.Data), "50 mx.lab.test\r\n") {
					drop = i
				}
			}
			if drop < 0 || drop+2 >= len(serverRecs) {
				t.Fatalf("no 250 record with two after it among %d", len(serverRecs))
			}
			for _, lost := range []bool{false, true} {
				d, _ := NewDecrypter(keys, session, ServerToClient)
				for i, rec := range serverRecs {
					if i == drop {
						if lost {
							d.Lost()
						}
						continue
					}
					got, err := d.Decrypt(rec)
					switch {
					case i < drop:
						if err != nil {
							t.Fatalf("record %d: %v", i, err)
						}
					case !lost:
						if !errors.Is(err, ErrBadRecordMAC) {
							t.Errorf("record %d after an unannounced loss: %v, want ErrBadRecordMAC", i, err)
						}
					case i == drop+1 && tt.version == tls.VersionTLS10:
						if !errors.Is(err, ErrBadRecordMAC) {
							t.Errorf("TLS 1.0, the record after the loss: %v, want ErrBadRecordMAC (its IV was lost)", err)
						}
					default:
						if err != nil || got.Seq != seqs[i] {
							t.Errorf("record %d after Lost: seq %d, %v; want seq %d", i, got.Seq, err, seqs[i])
						}
						if i == drop+1 && string(got.Data) != "221 bye\r\n" {
							t.Errorf("record %d after Lost: %q, want the 221", i, got.Data)
						}
					}
				}
			}
		})
	}
}

// TestConnectionStatus: the outcomes a Connection reports.
func TestConnectionStatus(t *testing.T) {
	s := runGoTLS(t, selfSigned(t, false), tls.VersionTLS13, 0)
	clientRecs, serverRecs := splitRecords(t, s.client), splitRecords(t, s.server)
	session := Session{Version: s.state.Version, Suite: Suite(s.state.CipherSuite), ClientRandom: helloRandom(t, clientRecs[0]), ServerRandom: helloRandom(t, serverRecs[0])}
	good := NewKeyLog()
	good.Add("go", s.keyLog)
	wrong := NewKeyLog()
	for r, k := range good.keys {
		for label, sec := range map[string]Secret{"SERVER_HANDSHAKE_TRAFFIC_SECRET": k.ServerHandshake, "SERVER_TRAFFIC_SECRET_0": k.ServerTraffic0, "CLIENT_HANDSHAKE_TRAFFIC_SECRET": k.ClientHandshake, "CLIENT_TRAFFIC_SECRET_0": k.ClientTraffic0} {
			wrong.Add("wrong", []byte(label+" "+r.String()+" "+strings.Repeat("5a", len(sec))+"\n"))
		}
	}
	feed := func(c *Connection, damage int) {
		for i, rec := range serverRecs {
			if i == damage {
				rec = bytes.Clone(rec)
				rec[len(rec)-1] ^= 1
			}
			c.Decrypt(ServerToClient, rec)
		}
	}
	for _, tt := range []struct {
		name    string
		keys    *KeyLog
		session Session
		damage  int
		want    Outcome
		reason  error
	}{
		{"decrypted", good, session, -1, OutcomeDecrypted, nil},
		{"one record damaged", good, session, len(serverRecs) - 2, OutcomePartial, ErrBadRecordMAC},
		{"wrong keys", wrong, session, -1, OutcomeFailed, ErrBadRecordMAC},
		{"no keys", NewKeyLog(), session, -1, OutcomeNoKeys, ErrNoKey},
	} {
		c := NewConnection(tt.keys)
		if got := c.Status().Outcome; got != OutcomeNotStarted {
			t.Errorf("%s: before Start: %s", tt.name, got)
		}
		c.Start(tt.session)
		feed(c, tt.damage)
		st := c.Status()
		if st.Outcome != tt.want || (tt.reason == nil) != (st.Reason == nil) || (tt.reason != nil && !errors.Is(st.Reason, tt.reason)) {
			t.Errorf("%s: %s, %v; want %s, %v", tt.name, st.Outcome, st.Reason, tt.want, tt.reason)
		}
	}
}
