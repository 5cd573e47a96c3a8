package smtp

import (
	"bufio"
	"bytes"
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
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
)

// A STARTTLS session between Go's crypto/tls client and server (real TLS,
// the key log Go's KeyLogWriter wrote), recorded write by write, decoded
// with the key log: the Session is the plaintext twin's.

// wire records the writes of both sides of a net.Pipe in the order they
// happened (a Write on a net.Pipe returns only once read).
type wire struct {
	mu     sync.Mutex
	writes []wireWrite
}

type wireWrite struct {
	dir  reassembly.Direction
	data []byte
}

type wireConn struct {
	net.Conn
	w   *wire
	dir reassembly.Direction
}

func (c wireConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.writes = append(c.w.writes, wireWrite{c.dir, slices.Clone(p)})
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

func testCert(t testing.TB) tls.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mx.lab.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// tlsDialogue is what the client sends inside TLS, line by line, each
// answered by the server's reply; "." ends the body.
var tlsDialogue = []struct{ send, reply string }{
	{"EHLO client.lab.test\r\n", "250-mx.lab.test\r\n250 SIZE 1000000\r\n"},
	{"MAIL FROM:<a@client.lab.test>\r\n", "250 2.1.0 OK\r\n"},
	{"RCPT TO:<b@mx.lab.test>\r\n", "250 2.1.5 OK\r\n"},
	{"RCPT TO:<c@mx.lab.test>\r\n", "550 5.1.1 no such user\r\n"},
	{"DATA\r\n", "354 go ahead\r\n"},
	{"Subject: t\r\n\r\nhello\r\n.\r\n", "250 2.0.0 queued\r\n"},
	{"QUIT\r\n", "221 2.0.0 bye\r\n"},
}

// runSTARTTLS runs the dialogue after STARTTLS with TLS version v and
// returns the writes and the client's key log.
func runSTARTTLS(t testing.TB, v uint16) ([]wireWrite, []byte) {
	t.Helper()
	cc, sc := net.Pipe()
	w := &wire{}
	client, server := wireConn{cc, w, reassembly.ClientToServer}, wireConn{sc, w, reassembly.ServerToClient}
	var keyLog bytes.Buffer
	done := make(chan error, 1)
	cert := testCert(t)
	go func() {
		defer server.Close()
		r := bufio.NewReader(server)
		server.Write([]byte("220 mx.lab.test ESMTP\r\n"))
		r.ReadString('\n') // EHLO
		server.Write([]byte("250-mx.lab.test\r\n250 STARTTLS\r\n"))
		r.ReadString('\n') // STARTTLS
		server.Write([]byte("220 2.0.0 ready\r\n"))
		s := tls.Server(server, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: v, MaxVersion: v})
		tr := bufio.NewReader(s)
		for _, d := range tlsDialogue {
			for range strings.Count(d.send, "\n") {
				if _, err := tr.ReadString('\n'); err != nil {
					done <- err
					return
				}
			}
			if _, err := s.Write([]byte(d.reply)); err != nil {
				done <- err
				return
			}
		}
		done <- s.Close()
	}()
	r := bufio.NewReader(client)
	readReply := func(r *bufio.Reader) {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if len(line) < 4 || line[3] == ' ' {
				return
			}
		}
	}
	readReply(r)
	client.Write([]byte("EHLO client.lab.test\r\n"))
	readReply(r)
	client.Write([]byte("STARTTLS\r\n"))
	readReply(r)
	c := tls.Client(client, &tls.Config{InsecureSkipVerify: true, KeyLogWriter: &keyLog, MinVersion: v, MaxVersion: v})
	tr := bufio.NewReader(c)
	for _, d := range tlsDialogue {
		if _, err := c.Write([]byte(d.send)); err != nil {
			t.Fatal(err)
		}
		readReply(tr)
	}
	// The server closes (close_notify): drain it; the client's TLS
	// writes end with its QUIT.
	go io.Copy(io.Discard, c)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	cc.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.writes), keyLog.Bytes()
}

// plainTwin is the same session without TLS: what the Session must show.
func plainTwin() *Session {
	steps := []step{S("220 mx.lab.test ESMTP\r\n"), C("EHLO client.lab.test\r\n"), S("250-mx.lab.test\r\n250 STARTTLS\r\n"),
		C("STARTTLS\r\n"), S("220 2.0.0 ready\r\n")}
	d := NewDecoder(Options{})
	feed(d, steps)
	// After the go-ahead the plaintext twin goes on in clear: the TLS
	// states are left as decryption leaves them.
	d.clientUpdate(clientEvent{in: evDecrypted})
	d.serverUpdate(serverEvent{in: evServerDecrypted})
	for _, x := range tlsDialogue {
		feed(d, []step{C(x.send), S(x.reply)})
	}
	d.End(markOf(1000))
	return d.Session()
}

// summary lists a Session's commands with their reply codes and its
// transactions' outcomes and final codes.
func summary(s *Session) []string {
	var out []string
	for _, c := range s.Commands {
		code := 0
		if c.Reply != nil {
			code = c.Reply.Code
		}
		out = append(out, c.Verb+" "+strconv.Itoa(code))
	}
	for _, tx := range s.Transactions {
		code := 0
		if tx.Reply != nil {
			code = tx.Reply.Code
		}
		line := "tx " + tx.MailFrom
		for _, r := range tx.Rcpts {
			line += " " + r.Addr
			if r.Reply != nil {
				line += ":" + strconv.Itoa(r.Reply.Code)
			}
		}
		out = append(out, line+" "+tx.Outcome.String()+" "+strconv.Itoa(code))
	}
	return out
}

// TestDecryptedSTARTTLS decodes Go crypto/tls STARTTLS sessions (TLS 1.2
// and 1.3) with their key log: the commands, replies and transactions are
// the plaintext twin's; a client record lost in a capture gap costs only
// its command, and the session is partly decrypted; without the key or
// with a wrong one, nothing is decoded inside TLS and the decryption says
// why.
func TestDecryptedSTARTTLS(t *testing.T) {
	want := summary(plainTwin())
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		writes, keyLog := runSTARTTLS(t, v)
		for _, tt := range []struct {
			name string
			keys []byte
			drop string // the client write (plaintext) lost to a gap
			// corrupt names the client write (plaintext) whose reply's
			// record is corrupted: its tag fails, bad record MAC
			corrupt string
			state   string
		}{
			{"keys", keyLog, "", "", DecryptionDecrypted},
			{"gap", keyLog, "RCPT TO:<c@mx.lab.test>\r\n", "", DecryptionPartial},
			{"corrupt end-of-data reply", keyLog, "", "Subject: t\r\n\r\nhello\r\n.\r\n", DecryptionPartial},
			{"corrupt MAIL", keyLog, "", "MAIL FROM:<a@client.lab.test>\r\n", DecryptionPartial},
			{"no key", []byte("CLIENT_RANDOM " + strings.Repeat("00", 32) + " " + strings.Repeat("11", 48) + "\n"), "", "", DecryptionInferred},
			{"wrong key", mapSecrets(keyLog), "", "", DecryptionFailed},
		} {
			t.Run(tls.VersionName(v)+"/"+tt.name, func(t *testing.T) {
				keys := tlskeys.NewKeyLog()
				keys.Add("test", tt.keys)
				d := NewDecoder(Options{TLSKeys: keys})
				// The client's last writes carry the dialogue's lines,
				// one each.
				var clientWrites []int
				for i, w := range writes {
					if w.dir == reassembly.ClientToServer {
						clientWrites = append(clientWrites, i)
					}
				}
				drop, corrupt := -1, -1
				for j, x := range tlsDialogue {
					i := clientWrites[len(clientWrites)-len(tlsDialogue)+j]
					if x.send == tt.drop {
						drop = i
					}
					if x.send == tt.corrupt {
						// MAIL is corrupted itself; the body, its reply.
						corrupt = i
						for x.send != tlsDialogue[1].send && writes[corrupt].dir != reassembly.ServerToClient {
							corrupt++
						}
					}
				}
				for i, w := range writes {
					m := markOf(i + 1)
					if i == drop {
						d.Gap(w.dir, len(w.data), m)
						continue
					}
					data := w.data
					if i == corrupt {
						data = slices.Clone(data)
						data[len(data)-1] ^= 0xff // the AEAD tag
					}
					d.Data(w.dir, data, reassembly.ConstMarker(m))
				}
				d.End(markOf(len(writes) + 1))
				s := d.Session()
				if s.TLS == nil || s.TLS.Decryption == nil || s.TLS.Decryption.State != tt.state {
					t.Fatalf("decryption %+v, want %s", s.TLS.Decryption, tt.state)
				}
				got := summary(s)
				switch tt.name {
				case "keys":
					if !slices.Equal(got, want) {
						t.Errorf("decrypted\n got %q\nwant %q (plaintext twin)", got, want)
					}
					if s.TLS.Inferred != nil {
						t.Errorf("inferred transactions beside the decrypted ones: %d", len(s.TLS.Inferred))
					}
				case "gap":
					// The record after the gap (DATA) fills its write, so
					// tlsrecord takes it up at once (no wait for a second
					// chained header): DATA is read in its place, before
					// the server's 354, and only the lost RCPT is missing.
					// The outcome is the server's 250.
					var cmds []string
					for _, c := range s.Commands {
						cmds = append(cmds, c.Verb)
					}
					if !slices.Equal(cmds, []string{"EHLO", "STARTTLS", "EHLO", "MAIL", "RCPT", "DATA", "QUIT"}) {
						t.Errorf("commands after a lost RCPT record: %q", cmds)
					}
					if len(s.Transactions) != 1 || s.Transactions[0].Outcome != OutcomeDelivered || s.Transactions[0].Reply == nil || s.Transactions[0].Reply.Code != 250 {
						t.Errorf("transactions after a lost RCPT record: %q", got)
					}
					if !hasAnomaly(s, AnomalyContentGap) {
						t.Errorf("no content-gap anomaly: %v", anomalyNames(s))
					}
				case "corrupt end-of-data reply":
					// The 250 was sent but cannot be read: the outcome
					// is unknown, never no-reply; the rest is decoded.
					if len(s.Transactions) != 1 || s.Transactions[0].Outcome != OutcomeUnknown || !s.Transactions[0].Incomplete {
						t.Errorf("transactions after an undecryptable end-of-data reply: %q", got)
					}
					if n := len(s.Commands); n == 0 || s.Commands[n-1].Verb != "QUIT" || s.Commands[n-1].Reply == nil {
						t.Errorf("commands after an undecryptable reply: %q", got)
					}
					if !hasAnomaly(s, AnomalyContentGap) || s.TLS.Decryption.Failed[1] != 1 {
						t.Errorf("anomalies %v, failed records %v", anomalyNames(s), s.TLS.Decryption.Failed)
					}
				case "corrupt MAIL":
					// MAIL's line is missing: its 250 answers nothing the
					// reader saw, and no transaction is called failed.
					for _, tx := range s.Transactions {
						if tx.Outcome != OutcomeDelivered && tx.Outcome != OutcomeUnknown {
							t.Errorf("a failed transaction after an undecryptable MAIL: %q", got)
						}
					}
					if !hasAnomaly(s, AnomalyContentGap) || s.TLS.Decryption.Failed[0] != 1 {
						t.Errorf("anomalies %v, failed records %v", anomalyNames(s), s.TLS.Decryption.Failed)
					}
				default:
					if len(s.Commands) != 2 || s.TLS.Decryption.Reason == "" {
						t.Errorf("%d commands (want EHLO, STARTTLS), reason %q", len(s.Commands), s.TLS.Decryption.Reason)
					}
				}
			})
		}
	}
}

// mapSecrets changes the first hex digit of every secret in a key log.
func mapSecrets(log []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(log), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 {
			b := []byte(f[2])
			if b[0] == '0' {
				b[0] = '1'
			} else {
				b[0] = '0'
			}
			f[2] = string(b)
			line = strings.Join(f, " ")
		}
		out = append(out, line)
	}
	return []byte(strings.Join(out, "\n"))
}

// FuzzDecrypted runs the decoder with a key log over Go crypto/tls
// STARTTLS sessions made at the start (TLS 1.2 and 1.3, keys of the
// session itself), mutated: the Session must not depend on segment
// boundaries, stay within its bounds, and hold no plaintext back between
// calls. Seeds: the sessions whole, and with a client record lost.
func FuzzDecrypted(f *testing.F) {
	keys := tlskeys.NewKeyLog()
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		writes, keyLog := runSTARTTLS(f, v)
		keys.Add("fuzz", keyLog)
		var st, gapped []step
		for i, w := range writes {
			s := step{kind: stepData, dir: w.dir, data: string(w.data)}
			st = append(st, s)
			if i == len(writes)-5 {
				s = step{kind: stepGap, dir: w.dir, n: len(w.data)}
			}
			gapped = append(gapped, s)
		}
		f.Add(encodeFuzz(st))
		f.Add(encodeFuzz(gapped))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st := decodeFuzz(b)
		opts := Options{MaxLineLength: 64, MaxPendingCommands: 8, MaxCommands: 32, MaxTransactions: 4, MaxRecipients: 4, MaxReplyLines: 8, MaxAnomalies: 16, MaxChunkSize: 100, TLSKeys: keys}
		whole := NewDecoder(opts)
		feedChecked(t, whole, st, false)
		bytewise := NewDecoder(opts)
		feedChecked(t, bytewise, st, true)
		a, z := whole.Session(), bytewise.Session()
		if !reflect.DeepEqual(a, z) {
			t.Fatalf("the session depends on segment boundaries:\nwhole records:\n%s\nbyte by byte:\n%s", dump(a), dump(z))
		}
		checkSession(t, a, opts)
		for _, d := range []*Decoder{whole, bytewise} {
			if d.tls != nil && d.tls.dec != nil && len(d.tls.dec.plain) > 0 {
				t.Fatalf("%d plaintext records held back", len(d.tls.dec.plain))
			}
		}
	})
}

// FuzzLateKey decodes arbitrary steps (seeded with real TLS sessions) with
// a key log that gains one of their lines each time the decoder looks
// again (KeyWait): no input panics, the records held stay within the
// wait's bounds, and after End nothing waits or is held back.
func FuzzLateKey(f *testing.F) {
	var lines []string
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		writes, keyLog := runSTARTTLS(f, v)
		lines = append(lines, strings.SplitAfter(strings.TrimSpace(string(keyLog)), "\n")...)
		var st []step
		for _, w := range writes {
			st = append(st, step{kind: stepData, dir: w.dir, data: string(w.data)})
		}
		f.Add(encodeFuzz(st), uint8(3))
		f.Add(encodeFuzz(st), uint8(200))
	}
	f.Fuzz(func(t *testing.T, b []byte, every uint8) {
		st := decodeFuzz(b)
		keys := tlskeys.NewKeyLog()
		looks, next := 0, 0
		wait := KeyWait{Records: 8, Bytes: 4096, Time: 5 * time.Second, Refresh: func() {
			if looks++; every > 0 && looks%int(every) == 0 && next < len(lines) {
				keys.Add("fuzz", []byte(lines[next]))
				next++
			}
		}}
		opts := Options{MaxLineLength: 64, MaxPendingCommands: 8, MaxCommands: 32, MaxTransactions: 4, MaxRecipients: 4, MaxReplyLines: 8,
			MaxAnomalies: 16, MaxChunkSize: 100, TLSKeys: keys, TLSKeyWait: wait}
		d := NewDecoder(opts)
		for i, s := range st {
			feedStep(d, i, s)
			checkBounds(t, d)
			if x := d.tls; x != nil && x.dec != nil && (len(x.dec.held) > wait.Records+1 || x.dec.heldBytes > wait.Bytes+maxTLSRecord) {
				t.Fatalf("%d records, %d bytes held: beyond the wait's bounds", len(x.dec.held), x.dec.heldBytes)
			}
			if i%7 == 0 {
				d.RetryTLSKeys(markOf(i + 1).Time)
			}
		}
		d.End(markOf(len(st) + 2))
		checkSession(t, d.Session(), opts)
		if d.WaitingForTLSKey() || d.tls != nil && d.tls.dec != nil && (len(d.tls.dec.held) > 0 || len(d.tls.dec.plain) > 0) {
			t.Fatalf("after End: waiting %v, records held back", d.WaitingForTLSKey())
		}
	})
}

// maxTLSRecord is the longest TLS record on the wire (RFC 8446 §5.2:
// 2^14 + 256 bytes of ciphertext; TLS 1.2 allows 2^14 + 2048).
const maxTLSRecord = 5 + 1<<14 + 2048

// TestLateTLSKey decodes the Go crypto/tls STARTTLS sessions with a key
// log that gains the session's lines only as the decoding runs, as a live
// run's followed key log does: one line per look (Refresh), or all after
// the last record (RetryTLSKeys), the session is the plaintext twin's;
// when a bound of the wait passes first, it stays inferred and says why.
func TestLateTLSKey(t *testing.T) {
	want := summary(plainTwin())
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		writes, keyLog := runSTARTTLS(t, v)
		lines := strings.SplitAfter(strings.TrimSpace(string(keyLog)), "\n")
		for _, tt := range []struct {
			name string
			wait KeyWait
			// perLook is how many key log lines each Refresh adds (0:
			// none; the lines are added after the last record).
			perLook int
			state   string
			reason  string
		}{
			{"a line per look", KeyWait{Records: 64, Bytes: 1 << 20, Time: time.Hour}, 1, DecryptionDecrypted, ""},
			{"after the last record", KeyWait{Records: 64, Bytes: 1 << 20, Time: time.Hour}, 0, DecryptionDecrypted, ""},
			{"record bound", KeyWait{Records: 2, Bytes: 1 << 20, Time: time.Hour}, 0, DecryptionInferred, "within 2 records"},
			{"byte bound", KeyWait{Records: 64, Bytes: 10, Time: time.Hour}, 0, DecryptionInferred, "within 10 bytes of records"},
			{"time bound", KeyWait{Records: 64, Bytes: 1 << 20, Time: time.Second}, 0, DecryptionInferred, "within 1s of the handshake"},
		} {
			t.Run(tls.VersionName(v)+"/"+tt.name, func(t *testing.T) {
				keys := tlskeys.NewKeyLog()
				next := 0
				wait := tt.wait
				wait.Refresh = func() {
					for range tt.perLook {
						if next < len(lines) {
							keys.Add("followed", []byte(lines[next]))
							next++
						}
					}
				}
				d := NewDecoder(Options{TLSKeys: keys, TLSKeyWait: wait})
				waited := false
				for i, w := range writes {
					d.Data(w.dir, w.data, reassembly.ConstMarker(markOf(i+1)))
					waited = waited || d.tls != nil && d.tls.dec != nil && d.tls.dec.wait != keyNotWaited
				}
				if !waited {
					t.Fatalf("the session never waited for its key")
				}
				if tt.perLook == 0 && tt.state == DecryptionDecrypted {
					if !d.WaitingForTLSKey() {
						t.Fatalf("not waiting after the last record")
					}
					keys.Add("followed", keyLog)
					d.RetryTLSKeys(markOf(len(writes)).Time)
					if d.WaitingForTLSKey() {
						t.Fatalf("still waiting once the key log has the secrets")
					}
				}
				d.End(markOf(len(writes) + 1))
				s := d.Session()
				if s.TLS == nil || s.TLS.Decryption == nil || s.TLS.Decryption.State != tt.state {
					t.Fatalf("decryption %+v, want %s", s.TLS.Decryption, tt.state)
				}
				if !strings.Contains(s.TLS.Decryption.Reason, tt.reason) {
					t.Errorf("reason %q, want it to say %q", s.TLS.Decryption.Reason, tt.reason)
				}
				dec := s.TLS.Decryption
				records := dec.Decrypted[0] + dec.Decrypted[1]
				switch {
				case tt.state != DecryptionDecrypted && (dec.HeldForKey != 0 || dec.KeyWait != 0):
					t.Errorf("held for the key %d records, %s; want none: it never came", dec.HeldForKey, dec.KeyWait)
				case tt.perLook == 0 && tt.state == DecryptionDecrypted && (dec.HeldForKey < records || dec.KeyWait <= 0):
					// Every record after the ServerHello came before the
					// key: the protected ones (and TLS 1.2's last
					// handshake records in clear).
					t.Errorf("held for the key %d records, %s; want at least the %d protected, a wait", dec.HeldForKey, dec.KeyWait, records)
				case tt.perLook > 0 && (dec.HeldForKey < 1 || dec.HeldForKey >= records):
					// The first look after the first record held may
					// find the key: no capture time waited.
					t.Errorf("held for the key %d records; want some of the %d", dec.HeldForKey, records)
				}
				got := summary(s)
				if tt.state == DecryptionDecrypted {
					if !slices.Equal(got, want) {
						t.Errorf("decrypted\n got %q\nwant %q (plaintext twin)", got, want)
					}
					if s.TLS.Inferred != nil {
						t.Errorf("inferred transactions beside the decrypted ones: %d", len(s.TLS.Inferred))
					}
					return
				}
				if len(s.Commands) != 2 || len(s.Transactions) != 0 {
					t.Errorf("%d commands (want EHLO, STARTTLS), %d transactions (want none)", len(s.Commands), len(s.Transactions))
				}
				if tt.name == "record bound" {
					// Lines that come after the wait ended are not used.
					keys.Add("followed", keyLog)
					d.RetryTLSKeys(markOf(len(writes) + 2).Time)
					if s := d.Session(); s.TLS.Decryption.State != DecryptionInferred {
						t.Errorf("decryption %+v after the wait ended, want inferred", s.TLS.Decryption)
					}
				}
			})
		}
	}
}
