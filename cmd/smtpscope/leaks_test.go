package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/report"
)

// writeDialogue writes an SMTP dialogue as a pcap of one TCP connection
// (raw IPv4, checksums filled in): the handshake, each line prefixed "C: "
// or "S: " as one segment of the client or the server ("\n" becomes
// CRLF), each acknowledged, and the client's and the server's FIN.
func writeDialogue(t *testing.T, path string, lines ...string) {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		t.Fatal(err)
	}
	client, server := [4]byte{192, 0, 2, 10}, [4]byte{198, 51, 100, 25}
	seq := [2]uint32{1000, 5000} // next sequence number of client, server
	at := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	send := func(from int, flags string, payload []byte) {
		src, dst, sport, dport := client, server, layers.TCPPort(40000), layers.TCPPort(25)
		if from == 1 {
			src, dst, sport, dport = server, client, 25, 40000
		}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src[:], DstIP: dst[:]}
		tcp := &layers.TCP{SrcPort: sport, DstPort: dport, Seq: seq[from], Ack: seq[1-from], Window: 65535,
			SYN: strings.Contains(flags, "S"), ACK: !strings.Contains(flags, "S") || from == 1, FIN: strings.Contains(flags, "F")}
		if tcp.SYN && from == 0 {
			tcp.Ack = 0
		}
		tcp.SetNetworkLayerForChecksum(ip)
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		at = at.Add(time.Millisecond)
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
		seq[from] += uint32(len(payload))
		if tcp.SYN || tcp.FIN {
			seq[from]++
		}
	}
	send(0, "S", nil)
	send(1, "S", nil)
	send(0, "", nil)
	for _, l := range lines {
		from := 0
		if strings.HasPrefix(l, "S: ") {
			from = 1
		}
		send(from, "", []byte(strings.ReplaceAll(l[3:], "\n", "\r\n")))
		send(1-from, "", nil)
	}
	send(0, "F", nil)
	send(1, "F", nil)
	send(0, "", nil)
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNothingLeaks runs dialogues that once leaked what a report must not
// show through every output format (text, JSON, Markdown, HTML and the
// events lines), with and without --redact (#14). Each case names what
// must never appear (body words: a report keeps no message text) and
// what must not appear once redacted; the latter must appear without
// --redact, so that the test notices a dialogue that stopped carrying it.
func TestNothingLeaks(t *testing.T) {
	greet := []string{"S: 220 mx.corp.example ESMTP\n", "C: EHLO client.example.com\n", "S: 250-mx.corp.example\n250 PIPELINING\n"}
	tests := []struct {
		name     string
		dialogue []string
		// never: in no output; redacted: only in outputs without --redact
		// (matched without regard to case).
		never, redacted []string
	}{
		{
			// DATA refused, the client sends its body anyway, and the
			// server reads each body line as a command (Exim answers 500):
			// their first words were shown as command names.
			name: "body lines read as commands after a refused DATA",
			dialogue: []string{"C: MAIL FROM:<alice@client.example.com>\n", "S: 250 OK\n", "C: RCPT TO:<bob@corp.example>\n",
				"S: 550 5.1.1 unknown user\n", "C: DATA\n", "S: 503 5.5.1 no valid recipients\n",
				"C: confidential merger plans\nPAYROLL attached\nsalaries\n.\n",
				"S: 500 unrecognized command\n500 unrecognized command\n500 unrecognized command\n500 unrecognized command\n",
				"C: QUIT\n", "S: 221 bye\n"},
			never:    []string{"confidential", "merger", "payroll", "salaries"},
			redacted: []string{"alice", "bob@corp.example"},
		},
		{
			// A quoted local part, echoed by the server, was split into
			// words that redaction did not recognise.
			name: "a quoted local part",
			dialogue: []string{`C: MAIL FROM:<"john doe"@corp.example>` + "\n", `S: 250 2.1.0 <"john doe"@corp.example>... Sender ok` + "\n",
				`C: RCPT TO:<"mary ann"@corp.example>` + "\n", `S: 550 5.1.1 <"mary ann"@corp.example>... User unknown` + "\n",
				"C: QUIT\n", "S: 221 bye\n"},
			redacted: []string{"john doe", "mary ann", "corp.example"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := filepath.Join(t.TempDir(), "dialogue.pcap")
			writeDialogue(t, in, append(append([]string(nil), greet...), tt.dialogue...)...)
			for _, redact := range []bool{false, true} {
				for _, format := range []string{"text", "json", "markdown", "html", "events"} {
					args := []string{"--format", format, "--color", "never", "--all", in}
					if format == "events" {
						args = []string{"--format", "json", "--events", "-", "-o", filepath.Join(t.TempDir(), "report.json"), in}
					}
					if redact {
						args = append([]string{"--redact"}, args...)
					}
					out := strings.ToLower(analyzeOutput(t, args...))
					if strings.TrimSpace(out) == "" {
						t.Fatalf("%s (redact %v): no output", format, redact)
					}
					for _, w := range tt.never {
						if strings.Contains(out, strings.ToLower(w)) {
							t.Errorf("%s (redact %v) shows %q", format, redact, w)
						}
					}
					for _, w := range tt.redacted {
						if got := strings.Contains(out, strings.ToLower(w)); got == redact && (redact || format == "json") {
							t.Errorf("%s (redact %v): shows %q = %v", format, redact, w, got)
						}
					}
				}
			}
		})
	}
}

// TestLiveRedactedIncidents: with --redact, live's incident lines (and
// its other event lines) show no IP address of the capture, as the
// report does not (#14).
func TestLiveRedactedIncidents(t *testing.T) {
	for _, name := range []string{"relay-stall", "banner-554", "rcpt-reject", "eod-451", "reset-mid-data", "connect-refused"} {
		t.Run(name, func(t *testing.T) {
			var lines []string
			for _, redact := range []bool{false, true} {
				res, evs := replay(t, scenarioPath(name), liveConfig{report: report.Options{Redact: redact}})
				var b strings.Builder
				for _, e := range evs {
					fmt.Fprintf(&b, "%s %s %s %s\n", e.Type, e.Client, e.Server, e.Summary)
				}
				if !redact && len(incidentsOf(evs)) == 0 {
					t.Fatalf("no incident to check")
				}
				if err := res.report.WriteText(&b, report.TextOptions{}); err != nil {
					t.Fatal(err)
				}
				lines = append(lines, b.String())
			}
			plain, redacted := lines[0], lines[1]
			shown := 0
			for _, name := range []string{"127.0.0.1", "127.0.0.2", "relay.lab.test", "client.lab.test"} {
				if strings.Contains(plain, name) {
					shown++
				}
				if strings.Contains(redacted, name) {
					t.Errorf("with --redact, live shows %s:\n%s", name, redacted)
				}
			}
			if shown == 0 {
				t.Errorf("without --redact, live shows none of the names checked:\n%s", plain)
			}
		})
	}
}
