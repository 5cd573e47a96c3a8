package tlsrecord

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// These tests run crypto/tls client and server against each other over an
// in-memory pipe that records every write, then feed the recorded bytes to
// a Conn the way reassembly would: in write order, each write one frame.

// write is one recorded write: who sent it and the bytes.
type write struct {
	dir reassembly.Direction
	p   []byte
}

// recorder keeps the writes of both sides in the order they were made.
type recorder struct {
	mu     sync.Mutex
	writes []write
}

type recConn struct {
	net.Conn
	dir reassembly.Direction
	r   *recorder
}

func (c recConn) Write(p []byte) (int, error) {
	c.r.mu.Lock()
	c.r.writes = append(c.r.writes, write{c.dir, append([]byte(nil), p...)})
	c.r.mu.Unlock()
	return c.Conn.Write(p)
}

// testCert makes a self-signed ECDSA certificate for names, valid
// between notBefore and notAfter.
func testCert(t testing.TB, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: names[0], Organization: []string{"smtpscope lab"}},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// session runs a TLS handshake between client and server configurations
// and, if it succeeds, one exchange of application data ("EHLO" and a
// reply), then closes the client. It returns the writes.
func session(t testing.TB, client, server *tls.Config) []write {
	t.Helper()
	rec := &recorder{}
	cp, sp := tcpPair(t)
	cc := tls.Client(recConn{cp, reassembly.ClientToServer, rec}, client)
	sc := tls.Server(recConn{sp, reassembly.ServerToClient, rec}, server)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer sc.Close()
		if err := sc.Handshake(); err != nil {
			return
		}
		buf := make([]byte, 64)
		if _, err := sc.Read(buf); err != nil {
			return
		}
		sc.Write([]byte("250 hello\r\n"))
		io.Copy(io.Discard, sc)
	}()
	if err := cc.Handshake(); err == nil {
		cc.Write([]byte("EHLO client.test\r\n"))
		buf := make([]byte, 64)
		cc.Read(buf)
	}
	cc.Close()
	cp.Close()
	wg.Wait()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.writes
}

// tcpPair returns the two ends of a loopback TCP connection, whose
// kernel buffers let both sides write at once (a net.Pipe would block
// crypto/tls's simultaneous flights).
func tcpPair(t testing.TB) (client, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan net.Conn)
	go func() {
		c, err := l.Accept()
		if err != nil {
			c = nil
		}
		done <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-done
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// feedWrites feeds writes to a new Conn, write i as frame i+1 at t0 + i
// ms, each split into pieces of at most split bytes (0: whole), then a
// FIN from the client and End.
func feedWrites(writes []write, split int, opts Options) *Conn {
	c := NewConn(opts)
	for i, w := range writes {
		m := reassembly.ConstMarker{Frame: i + 1, Time: t0.Add(time.Duration(i) * time.Millisecond)}
		p := w.p
		for len(p) > 0 {
			n := len(p)
			if split > 0 && n > split {
				n = split
			}
			c.Data(w.dir, p[:n], m)
			p = p[n:]
		}
	}
	last := reassembly.Mark{Frame: len(writes) + 1, Time: t0.Add(time.Duration(len(writes)) * time.Millisecond)}
	c.Control(reassembly.EventFIN, reassembly.ClientToServer, last)
	c.End(last)
	return c
}

func TestHandshakes(t *testing.T) {
	host := "relay.example"
	good := testCert(t, t0.Add(-time.Hour), t0.Add(24*time.Hour), host, "mx.example")
	expired := testCert(t, t0.Add(-48*time.Hour), t0.Add(-24*time.Hour), host)
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(good.Certificate[0])
	pool.AddCert(leaf)
	tests := []struct {
		name           string
		client, server *tls.Config
		version        uint16
		ending         Ending
		endedBy        reassembly.Direction
		alert          string // the first clear alert's name
		certs          int
		hrr            bool
		expired        bool
	}{
		{name: "tls13", version: VersionTLS13, ending: EndComplete,
			client: &tls.Config{ServerName: host, RootCAs: pool, NextProtos: []string{"smtp"}},
			server: &tls.Config{Certificates: []tls.Certificate{good}, NextProtos: []string{"smtp"}}},
		{name: "tls12", version: VersionTLS12, ending: EndComplete, certs: 1, endedBy: reassembly.ServerToClient,
			client: &tls.Config{ServerName: host, RootCAs: pool, MaxVersion: tls.VersionTLS12},
			server: &tls.Config{Certificates: []tls.Certificate{good}}},
		{name: "hello-retry", version: VersionTLS13, ending: EndComplete, hrr: true,
			client: &tls.Config{ServerName: host, RootCAs: pool, CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}},
			server: &tls.Config{Certificates: []tls.Certificate{good}, CurvePreferences: []tls.CurveID{tls.CurveP256}}},
		{name: "version-mismatch", ending: EndAlert, endedBy: reassembly.ServerToClient, alert: "protocol_version",
			client: &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS13},
			server: &tls.Config{Certificates: []tls.Certificate{good}, MaxVersion: tls.VersionTLS12}},
		{name: "cert-rejected-tls12", version: VersionTLS12, ending: EndAlert, alert: "bad_certificate", certs: 1,
			client: &tls.Config{ServerName: host, MaxVersion: tls.VersionTLS12},
			server: &tls.Config{Certificates: []tls.Certificate{good}}},
		{name: "cert-expired-tls12", version: VersionTLS12, ending: EndAlert, alert: "bad_certificate", certs: 1, expired: true,
			client: &tls.Config{ServerName: host, MaxVersion: tls.VersionTLS12},
			server: &tls.Config{Certificates: []tls.Certificate{expired}}},
		{name: "cert-rejected-tls13", version: VersionTLS13, ending: EndProbableAlert,
			client: &tls.Config{ServerName: host},
			server: &tls.Config{Certificates: []tls.Certificate{good}}},
	}
	for _, tc := range tests {
		writes := session(t, tc.client, tc.server)
		for _, split := range []int{0, 1, 7, 1000} {
			var records int
			var handed []Record
			c := feedWrites(writes, split, Options{RecordBytes: true, Record: func(r Record, raw []byte) {
				records++
				handed = append(handed, r)
				if len(raw) != Overhead+r.Length {
					t.Errorf("%s/%d: record %d raw %d bytes, want %d", tc.name, split, r.Index, len(raw), Overhead+r.Length)
				}
			}})
			f := c.Facts()
			// Without RecordBytes: the same records and facts, no bytes.
			var handedNoBytes []Record
			noBytes := feedWrites(writes, split, Options{Record: func(r Record, raw []byte) {
				handedNoBytes = append(handedNoBytes, r)
				if raw != nil {
					t.Errorf("%s/%d: record %d handed %d raw bytes without RecordBytes", tc.name, split, r.Index, len(raw))
				}
			}})
			if !reflect.DeepEqual(handedNoBytes, handed) || !reflect.DeepEqual(noBytes.Facts(), f) {
				t.Errorf("%s/%d: without RecordBytes the records or facts differ", tc.name, split)
			}
			if f.Version() != tc.version || f.Ending != tc.ending || f.EndedBy != tc.endedBy && tc.ending != EndComplete {
				t.Errorf("%s/%d: version %s ending %s by %s, want %s %s by %s", tc.name, split,
					VersionName(f.Version()), f.Ending, f.EndedBy, VersionName(tc.version), tc.ending, tc.endedBy)
			}
			if tc.ending == EndComplete && tc.version == VersionTLS12 && f.EndedBy != tc.endedBy {
				t.Errorf("%s/%d: completed by %s, want %s", tc.name, split, f.EndedBy, tc.endedBy)
			}
			if f.ClientHello == nil || f.ClientHello.ServerName != host {
				t.Fatalf("%s/%d: ClientHello %+v, want SNI %s", tc.name, split, f.ClientHello, host)
			}
			if (f.HelloRetryRequest != nil) != tc.hrr || (f.SecondClientHello != nil) != tc.hrr {
				t.Errorf("%s/%d: HelloRetryRequest %v, second hello %v, want %v", tc.name, split, f.HelloRetryRequest != nil, f.SecondClientHello != nil, tc.hrr)
			}
			alert := ""
			for _, a := range f.Alerts {
				if !a.Protected {
					alert = a.Name()
					break
				}
			}
			if alert != tc.alert {
				t.Errorf("%s/%d: alert %q, want %q (%+v)", tc.name, split, alert, tc.alert, f.Alerts)
			}
			if len(f.Certificates) != tc.certs {
				t.Errorf("%s/%d: %d certificates, want %d", tc.name, split, len(f.Certificates), tc.certs)
			}
			if tc.certs > 0 {
				cert := f.Certificates[0]
				if !cert.SelfSigned || cert.CommonName != host || !cert.Names(host) || cert.Names("other.example") || cert.ExpiredAtCapture != tc.expired {
					t.Errorf("%s/%d: certificate %+v", tc.name, split, cert)
				}
			}
			if records != f.Records[0]+f.Records[1] || records == 0 {
				t.Errorf("%s/%d: %d records handed, %d counted", tc.name, split, records, f.Records[0]+f.Records[1])
			}
			if tc.ending == EndComplete {
				if f.CipherSuite() == 0 || f.Duration() <= 0 || f.FirstApplicationData[0].Frame == 0 {
					t.Errorf("%s/%d: suite %s, duration %v, first data %+v", tc.name, split, SuiteName(f.CipherSuite()), f.Duration(), f.FirstApplicationData)
				}
				if _, ok := f.ServerRandom(); !ok {
					t.Errorf("%s/%d: no server random", tc.name, split)
				}
			}
			if len(f.Conditions) != 0 {
				t.Errorf("%s/%d: conditions %+v", tc.name, split, f.Conditions)
			}
		}
	}
}

func clientConfig12() *tls.Config {
	return &tls.Config{ServerName: "relay.example", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
}

func serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{cert}}
}
