package tlskeys_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/smtpscope/smtpscope/capture"
	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/tlskeys"
	"github.com/smtpscope/smtpscope/tlsrecord"
)

// segment is one TCP payload of a lab connection, in capture order.
type segment struct {
	dir     reassembly.Direction
	payload []byte
	frame   int
}

// labConn is one TCP connection of the lab capture.
type labConn struct {
	clientPort, serverPort uint16
	segments               []segment
	next                   [2]uint32 // the next sequence number expected per direction
	started                [2]bool
}

// readLab reads the TCP connections of a lab capture, with the key log of
// its Decryption Secrets Blocks, if any. The lab's loopback captures have
// no loss and no reordering (make.sh checks tcpdump dropped nothing), but
// spurious retransmissions; a segment past a hole fails the test rather
// than being guessed at.
func readLab(t *testing.T, name string) (conns []*labConn, dsb []byte) {
	t.Helper()
	f, err := capture.OpenFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byPort := map[uint16]*labConn{}
	for {
		fr, err := f.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(fr.Data, fr.LinkType, gopacket.Default)
		tcp, ok := p.TransportLayer().(*layers.TCP)
		if !ok {
			continue
		}
		dir, client, server := reassembly.ClientToServer, uint16(tcp.SrcPort), uint16(tcp.DstPort)
		if server != 25 && server != 465 {
			dir, client, server = reassembly.ServerToClient, server, client
		}
		c := byPort[client]
		if c == nil || (tcp.SYN && !tcp.ACK && c.started[0]) {
			c = &labConn{clientPort: client, serverPort: server}
			byPort[client] = c
			conns = append(conns, c)
		}
		seq := tcp.Seq
		if tcp.SYN {
			c.next[dir], c.started[dir] = seq+1, true
			continue
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		payload := tcp.Payload
		if d := int32(c.next[dir] - seq); d > 0 {
			// A retransmission (the loopback has spurious ones): keep
			// only bytes not seen before.
			if int(d) >= len(payload) {
				continue
			}
			payload, seq = payload[d:], c.next[dir]
		}
		if seq != c.next[dir] {
			t.Fatalf("%s frame %d: port %d %v segment at seq %d, want %d: bytes missing", name, fr.Number, client, dir, seq, c.next[dir])
		}
		c.next[dir] += uint32(len(payload))
		c.segments = append(c.segments, segment{dir, bytes.Clone(payload), fr.Number})
	}
	return conns, f.TLSKeyLog()
}

// smtpLines is what a side said in SMTP, as tshark's smtp fields show it:
// the client's command verbs (their first four letters, upper case, as
// smtp.req.command holds them), the server's reply codes, one per line.
type smtpLines struct {
	commands []string
	codes    []string
	// alerts are the alerts each side sent (in clear or decrypted), as
	// "level/description".
	alerts [2][]string
	// serverHandshake lists the first message type of each handshake
	// record the server protected.
	serverHandshake []byte
	// clientRecords are the client's decrypted application data records.
	clientRecords []labRecord
	inData        bool
	partial       [2][]byte
}

func (s *smtpLines) add(dir reassembly.Direction, b []byte) {
	s.partial[dir] = append(s.partial[dir], b...)
	for {
		i := bytes.Index(s.partial[dir], []byte("\r\n"))
		if i < 0 {
			return
		}
		line := string(s.partial[dir][:i])
		s.partial[dir] = s.partial[dir][i+2:]
		if dir == reassembly.ServerToClient {
			if len(line) >= 3 {
				s.codes = append(s.codes, line[:3])
			}
			continue
		}
		switch {
		case s.inData:
			s.inData = line != "."
		default:
			verb := strings.ToUpper(strings.Fields(line + " x")[0])
			s.commands = append(s.commands, verb[:min(4, len(verb))])
			s.inData = verb == "DATA" || verb == "BDAT"
		}
	}
}

// labRecord is a decrypted record: the frame of its last byte, its text.
type labRecord struct {
	frame int
	text  string
}

// decryptConn runs one connection through tlsrecord and a
// tlskeys.Connection (leaving out the segment of frame drop, as a capture
// gap would, when drop is not 0), and returns the SMTP it carried, the negotiated
// suite and version, and the Connection's Status.
func decryptConn(t *testing.T, c *labConn, keys *tlskeys.KeyLog, drop int) (lines smtpLines, suite tlskeys.Suite, version uint16, status tlskeys.Status) {
	t.Helper()
	var tc *tlsrecord.Conn
	dc := tlskeys.NewConnection(keys)
	started := false
	onRecord := func(r tlsrecord.Record, raw []byte) {
		if raw == nil {
			dc.Lost(tlskeys.Direction(r.Dir))
			return
		}
		f := tc.Facts()
		if f.ServerHello == nil || f.ClientHello == nil {
			return // records before the ServerHello are in clear
		}
		if !started {
			started = true
			s := tlskeys.Session{
				Version:        f.ServerHello.Version(),
				Suite:          tlskeys.Suite(f.ServerHello.CipherSuite),
				ClientRandom:   f.ClientHello.Random,
				ServerRandom:   f.ServerHello.Random,
				EncryptThenMAC: slices.Contains(f.ServerHello.Extensions, 22),
			}
			suite, version = s.Suite, s.Version
			if dc.Start(s) != nil {
				return
			}
		}
		rec, err := dc.Decrypt(tlskeys.Direction(r.Dir), raw)
		switch {
		case err != nil:
		case rec.Type == tlskeys.ApplicationData:
			lines.add(r.Dir, rec.Data)
			if r.Dir == reassembly.ClientToServer {
				lines.clientRecords = append(lines.clientRecords, labRecord{r.End.Frame, string(rec.Data)})
			}
		case rec.Type == tlskeys.Handshake && rec.Protected() && r.Dir == reassembly.ServerToClient && len(rec.Data) > 0:
			lines.serverHandshake = append(lines.serverHandshake, rec.Data[0])
		case rec.Type == tlskeys.Alert && len(rec.Data) == 2:
			lines.alerts[r.Dir] = append(lines.alerts[r.Dir], fmt.Sprintf("%d/%d", rec.Data[0], rec.Data[1]))
		}
	}
	// Before TLS: plain SMTP up to the client's STARTTLS and the server's
	// reply to it; implicit TLS (port 465) starts with the first byte.
	inTLS := [2]bool{c.serverPort == 465, c.serverPort == 465}
	if c.serverPort == 465 {
		tc = tlsrecord.NewConn(tlsrecord.Options{Record: onRecord, RecordBytes: true})
	}
	starttls := false
	for _, s := range c.segments {
		p := s.payload
		if !inTLS[s.dir] {
			// The lab's peers send each line of the plain part in a
			// segment of its own before TLS starts.
			lines.add(s.dir, p)
			switch {
			case s.dir == reassembly.ClientToServer && strings.EqualFold(string(p), "STARTTLS\r\n"):
				starttls, inTLS[s.dir] = true, true
			case s.dir == reassembly.ServerToClient && starttls && strings.HasPrefix(string(p), "220 "):
				inTLS[s.dir] = true
				tc = tlsrecord.NewConn(tlsrecord.Options{Record: onRecord, RecordBytes: true})
			}
			continue
		}
		if tc == nil {
			t.Fatalf("port %d: TLS bytes before the server's go-ahead", c.clientPort)
		}
		if s.frame == drop {
			// A capture gap: tlsrecord is told, and so is the
			// decrypting side, whether or not tlsrecord hands on a
			// partial record (a gap that takes a whole record, header
			// and all, leaves none).
			tc.Gap(s.dir, len(p), reassembly.Mark{Frame: s.frame})
			dc.Lost(tlskeys.Direction(s.dir))
			continue
		}
		tc.Data(s.dir, p, reassembly.ConstMarker{Frame: s.frame})
	}
	return lines, suite, version, dc.Status()
}

// tsharkLines reads tls-sessions.tshark.tsv (make.sh): per tcp.stream,
// the commands and reply codes tshark decrypted with the same key log.
// smtp.req.command holds a verb's first four letters as sent.
func tsharkLines(t *testing.T) map[int]*smtpLines {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "tls-sessions.tshark.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]*smtpLines{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 5 {
			t.Fatalf("tshark line %q", sc.Text())
		}
		p, err := strconv.Atoi(fields[0])
		if err != nil {
			t.Fatalf("tshark line %q", sc.Text())
		}
		if out[p] == nil {
			out[p] = &smtpLines{}
		}
		for _, c := range strings.Split(fields[2], "|") {
			if c != "" {
				out[p].commands = append(out[p].commands, strings.ToUpper(c))
			}
		}
		// tshark gives a multi-line reply that arrives in one piece one
		// smtp.response.code and one smtp.rsp.parameter per line (the
		// lab server's lines all have a parameter): expand to a code a
		// line, as the decrypted stream is read here.
		if fields[3] == "" {
			continue
		}
		codes, params := strings.Split(fields[3], "|"), strings.Split(fields[4], "|")
		for i := range max(len(codes), len(params)) {
			out[p].codes = append(out[p].codes, codes[min(i, len(codes)-1)])
		}
	}
	return out
}

// tsharkAlerts reads tls-sessions.alerts.tsv (make.sh): per tcp.stream and
// sender, the alerts tshark saw with the key log, as "level/description".
func tsharkAlerts(t *testing.T) map[int]*[2][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tls-sessions.alerts.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]*[2][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("alerts line %q", line)
		}
		stream, _ := strconv.Atoi(f[0])
		dir := reassembly.ClientToServer
		if f[1] == "25" || f[1] == "465" {
			dir = reassembly.ServerToClient
		}
		if out[stream] == nil {
			out[stream] = new([2][]string)
		}
		levels, descs := strings.Split(f[2], "|"), strings.Split(f[3], "|")
		for i := range levels {
			out[stream][dir] = append(out[stream][dir], levels[i]+"/"+descs[min(i, len(descs)-1)])
		}
	}
	return out
}

// labSessions is what each lab connection was told to negotiate, in
// capture order, by client port (0: an ephemeral port) (make.sh); the
// server logged what it negotiated (tls-sessions.server.jsonl).
var labSessions = func() []labSession {
	s := []labSession{
		{40001, tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384, false},
		{40002, tlskeys.VersionTLS13, tlskeys.TLS_AES_128_GCM_SHA256, false}, // with a KeyUpdate
		{40003, tlskeys.VersionTLS13, tlskeys.TLS_CHACHA20_POLY1305_SHA256, false},
		{40004, tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, false},
		{40005, tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, false},
		{40006, tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, false},
		{40007, tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false},    // encrypt_then_mac
		{40008, tlskeys.VersionTLS12, tlskeys.TLS_RSA_WITH_AES_256_CBC_SHA256, false},       // encrypt_then_mac
		{40009, tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384, false}, // MAC-then-encrypt
		{40010, tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384, false},                // implicit TLS, port 465
		{40011, tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384, true},
		{40012, tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384, false}, // after a HelloRetryRequest
		{40013, tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384, false}, // the client rejects the certificate
	}
	// s_client -reconnect: a full handshake and five more, TLS 1.2
	// resumed by session ticket, then by session ID; TLS 1.3 (openssl
	// reconnects before the server's ticket arrives: full handshakes).
	for _, v := range []struct {
		version uint16
		suite   tlskeys.Suite
	}{
		{tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{tlskeys.VersionTLS12, tlskeys.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		{tlskeys.VersionTLS13, tlskeys.TLS_AES_256_GCM_SHA384},
	} {
		for range 6 {
			s = append(s, labSession{0, v.version, v.suite, false})
		}
	}
	return s
}()

type labSession struct {
	port    uint16
	version uint16
	suite   tlskeys.Suite
	noKey   bool
}

// TestLabSessionsMatchTshark decrypts every SMTP session of the lab
// capture (real peers: Python ssl, smtplib, openssl s_client) with the key
// log the peers wrote, and compares each side's SMTP with what tshark
// decrypted from the same capture and key log. Both ways of getting the
// keys are tested: the key log file, and the Decryption Secrets Block
// editcap put in a copy of the capture.
func TestLabSessionsMatchTshark(t *testing.T) {
	want := tsharkLines(t)
	wantAlerts := tsharkAlerts(t)
	keyFile, err := os.ReadFile(filepath.Join("testdata", "tls-sessions.keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		file string
	}{
		{"key log file", "tls-sessions.pcapng"},
		{"decryption secrets block", "tls-sessions.dsb.pcapng"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conns, dsb := readLab(t, tt.file)
			keys := tlskeys.NewKeyLog()
			if dsb != nil {
				keys.Add(tt.file, dsb)
			} else {
				keys.Add("tls-sessions.keys", keyFile)
			}
			// OpenSSL also logs RSA pre-master lines (session 8) and the
			// secret after a KeyUpdate (session 2), which Wireshark
			// ignores too; the decrypter derives that one itself.
			if u := keys.UnknownLabels(); len(u) != 2 || u["RSA"] != 1 || u["CLIENT_TRAFFIC_SECRET_N"] != 1 || keys.BadLines() != 0 {
				t.Errorf("unknown labels %v, bad lines %v", u, keys.Problems())
			}
			if len(conns) != len(labSessions) {
				t.Fatalf("%d connections, want %d", len(conns), len(labSessions))
			}
			for i, c := range conns {
				s := labSessions[i]
				if s.port != 0 && c.clientPort != s.port {
					t.Fatalf("connection %d from port %d, want %d", i, c.clientPort, s.port)
				}
				got, suite, version, status := decryptConn(t, c, keys, 0)
				if version != s.version || suite != s.suite {
					t.Errorf("connection %d (port %d): negotiated %04x %s, want %04x %s", i, c.clientPort, version, suite, s.version, s.suite)
				}
				switch {
				case s.noKey:
					if status.Outcome != tlskeys.OutcomeNoKeys || !errors.Is(status.Reason, tlskeys.ErrNoKey) {
						t.Errorf("connection %d (port %d): %s, %v; want no keys, ErrNoKey", i, c.clientPort, status.Outcome, status.Reason)
					}
				case s.port == 40013:
					// The client rejected the certificate before it had
					// keys: its alert is in clear and OpenSSL logged only
					// the server's handshake secret; the server's flight
					// decrypts, Certificate (11) included.
					if status.Outcome != tlskeys.OutcomeDecrypted || status.Decrypted[0] != 0 || status.Decrypted[1] == 0 ||
						!errors.Is(status.Reason, tlskeys.ErrMissingSecret) || !bytes.Contains(got.serverHandshake, []byte{11}) {
						t.Errorf("connection %d (port %d): %s, %d/%d records, %v, server handshake messages %v", i, c.clientPort, status.Outcome, status.Decrypted[0], status.Decrypted[1], status.Reason, got.serverHandshake)
					}
				case status.Outcome != tlskeys.OutcomeDecrypted || status.Decrypted[0] == 0 || status.Decrypted[1] == 0:
					t.Errorf("connection %d (port %d): %s (%d and %d records decrypted), %v", i, c.clientPort, status.Outcome, status.Decrypted[0], status.Decrypted[1], status.Reason)
				}
				w := want[i] // tshark numbers streams in the order of their first packet
				if w == nil {
					w = &smtpLines{} // a connection that closed before any SMTP
				}
				if !slices.Equal(got.commands, w.commands) {
					t.Errorf("connection %d (port %d): client commands\n got %q\nwant %q (tshark)", i, c.clientPort, got.commands, w.commands)
				}
				if !slices.Equal(got.codes, w.codes) {
					t.Errorf("connection %d (port %d): server replies\n got %q\nwant %q (tshark)", i, c.clientPort, got.codes, w.codes)
				}
				wa := wantAlerts[i]
				if wa == nil {
					wa = new([2][]string)
				}
				for dir := range 2 {
					if !slices.Equal(got.alerts[dir], wa[dir]) {
						t.Errorf("connection %d (port %d): %v alerts %q, want %q (tshark)", i, c.clientPort, reassembly.Direction(dir), got.alerts[dir], wa[dir])
					}
				}
			}
		})
	}
}

// TestLabSessionWithGap leaves out the TCP segment that carried a client's
// MAIL command in each TLS 1.2 and 1.3 STARTTLS session, as a capture gap
// would: tlsrecord keeps the framing across a gap of known size and hands
// on a partial record, the Connection is told records were lost, and
// every later record still decrypts (at the sequence number after the
// lost one). The commands are tshark's less that MAIL.
//
// The way to use a Connection is shown here: Lost on every capture gap of
// a direction and on every partial record.
func TestLabSessionWithGap(t *testing.T) {
	want := tsharkLines(t)
	conns, _ := readLab(t, "tls-sessions.pcapng")
	keys := tlskeys.NewKeyLog()
	keyFile, err := os.ReadFile(filepath.Join("testdata", "tls-sessions.keys"))
	if err != nil {
		t.Fatal(err)
	}
	keys.Add("tls-sessions.keys", keyFile)
	tested := 0
	for i, c := range conns {
		if c.clientPort < 40001 || c.clientPort > 40009 {
			continue
		}
		full, _, _, _ := decryptConn(t, c, keys, 0)
		drop := 0
		for _, r := range full.clientRecords {
			if strings.HasPrefix(strings.ToUpper(r.text), "MAIL FROM") && strings.Count(r.text, "\r\n") == 1 {
				drop = r.frame
			}
		}
		if drop == 0 {
			continue // MAIL shared a record with another command (s_client's EHLO and MAIL)
		}
		got, _, _, status := decryptConn(t, c, keys, drop)
		wantCommands := slices.Clone(want[i].commands)
		if j := slices.Index(wantCommands, "MAIL"); j >= 0 {
			wantCommands = slices.Delete(wantCommands, j, j+1)
		}
		if !slices.Equal(got.commands, wantCommands) {
			t.Errorf("port %d, frame %d left out: commands %q, want %q", c.clientPort, drop, got.commands, wantCommands)
		}
		if !slices.Equal(got.codes, want[i].codes) || status.Outcome != tlskeys.OutcomeDecrypted {
			t.Errorf("port %d, frame %d left out: replies %q (want %q), %s %v", c.clientPort, drop, got.codes, want[i].codes, status.Outcome, status.Reason)
		}
		tested++
	}
	if tested < 4 {
		t.Errorf("only %d sessions had a MAIL record of its own", tested)
	}
}
