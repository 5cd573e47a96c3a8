package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/smtpscope/smtpscope/report"
)

// wireSeg is one TCP segment of a hand-made session; lost segments move
// the sender's sequence numbers but are left out of the capture.
type wireSeg struct {
	fromServer bool
	flags      string // S, A, F, R, P
	payload    string
	lost       bool
	// again resends at the sequence number of the sender's previous
	// segment (a retransmission, with these bytes).
	again bool
	// wait is the capture time since the previous segment (zero: 1 ms).
	wait time.Duration
}

// sessionPcap plays segs between 192.0.2.1:40000 and 192.0.2.25:25, with
// sequence and acknowledgement numbers as a receiver that got every
// segment (lost ones included) sends them, and returns the pcap.
func sessionPcap(t *testing.T, segs []wireSeg) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	client, server := net.IPv4(192, 0, 2, 1), net.IPv4(192, 0, 2, 25)
	next := [2]uint32{1000, 5000} // client, server
	var last [2]uint32            // each side's previous segment's sequence number
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	for _, s := range segs {
		side := 0
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: client, DstIP: server}
		tcp := &layers.TCP{SrcPort: 40000, DstPort: 25, Window: 65535}
		if s.fromServer {
			side = 1
			ip.SrcIP, ip.DstIP = server, client
			tcp.SrcPort, tcp.DstPort = 25, 40000
		}
		tcp.Seq = next[side]
		if s.again {
			tcp.Seq = last[side]
		}
		last[side] = tcp.Seq
		for _, f := range s.flags {
			switch f {
			case 'S':
				tcp.SYN = true
			case 'A':
				tcp.ACK = true
			case 'F':
				tcp.FIN = true
			case 'R':
				tcp.RST = true
			case 'P':
				tcp.PSH = true
			}
		}
		if tcp.ACK {
			tcp.Ack = next[1-side]
		}
		if end := tcp.Seq + uint32(len(s.payload)); int32(end-next[side]) > 0 {
			next[side] = end
		}
		if tcp.SYN || tcp.FIN {
			next[side]++
		}
		wait := s.wait
		if wait == 0 {
			wait = time.Millisecond
		}
		at = at.Add(wait)
		if s.lost {
			continue
		}
		tcp.SetNetworkLayerForChecksum(ip)
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		sb := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(sb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(s.payload)); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: at, CaptureLength: len(sb.Bytes()), Length: len(sb.Bytes())}
		if err := w.WritePacket(ci, sb.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// envelope is a session up to the server's 354.
var envelope = []wireSeg{
	{flags: "S"}, {fromServer: true, flags: "SA"}, {flags: "A"},
	{fromServer: true, flags: "PA", payload: "220 mx.example.net ESMTP\r\n"},
	{flags: "PA", payload: "EHLO client.example.org\r\n"},
	{fromServer: true, flags: "PA", payload: "250 mx.example.net\r\n"},
	{flags: "PA", payload: "MAIL FROM:<a@example.org>\r\n"},
	{fromServer: true, flags: "PA", payload: "250 2.1.0 Ok\r\n"},
	{flags: "PA", payload: "RCPT TO:<b@example.net>\r\n"},
	{fromServer: true, flags: "PA", payload: "250 2.1.5 Ok\r\n"},
	{flags: "PA", payload: "DATA\r\n"},
	{fromServer: true, flags: "PA", payload: "354 End data with <CR><LF>.<CR><LF>\r\n"},
	{flags: "PA", payload: "Subject: test\r\n\r\nfirst line of the body\r\n"},
}

func join(parts ...[]wireSeg) []wireSeg {
	var all []wireSeg
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

// analyzeOne runs the pipeline over a hand-made capture and returns its
// only connection as the JSON report has it.
func analyzeOne(t *testing.T, data []byte) report.Connection {
	t.Helper()
	rep, _, err := Files(context.Background(), []string{"-"}, bytes.NewReader(data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var r struct{ Connections []report.Connection }
	if err := jsonUnmarshal(js.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Connections) != 1 {
		t.Fatalf("%d connections, want 1", len(r.Connections))
	}
	return r.Connections[0]
}

// TestAckedUnseenBytesAreCaptureIncomplete: bytes of a body the server
// acknowledged but the capture never saw, at the end of what the client
// sent, make the transaction capture-incomplete, never an L7 fault such as
// closed-by-server (issue 14). The capture proves the loss: the server's
// ACK covers bytes no captured segment carried (Wireshark's
// tcp.analysis.ack_lost_segment). A 250 the server sent once it had
// acknowledged the lost end-of-data, its first reply since the 354, is
// the end-of-data's reply (a server reading a body answers nothing else,
// RFC 5321 §4.1.1.4), and a 250 there means the server took the message
// (ibid.): delivered, Incomplete (the size is a lower bound), however
// much of the body the capture lost.
func TestAckedUnseenBytesAreCaptureIncomplete(t *testing.T) {
	cases := []struct {
		name    string
		segs    []wireSeg
		outcome string
	}{{
		name:    "end-of-data and QUIT lost, the server replies and closes",
		outcome: "delivered",
		segs: join(envelope, []wireSeg{
			{flags: "PA", payload: "last line\r\n.\r\n", lost: true},
			{fromServer: true, flags: "PA", payload: "250 2.0.0 Ok: queued as 4AbC\r\n"},
			{flags: "PA", payload: "QUIT\r\n", lost: true},
			{fromServer: true, flags: "PA", payload: "221 2.0.0 Bye\r\n"},
			{fromServer: true, flags: "FA"},
			{flags: "FA", lost: true},
			{fromServer: true, flags: "A"},
		}),
	}, {
		name: "the end of the body lost, the server closes without a reply",
		segs: join(envelope, []wireSeg{
			{flags: "PA", payload: "more of the body\r\n", lost: true},
			{fromServer: true, flags: "A"},
			{fromServer: true, flags: "FA", wait: 30 * time.Second},
		}),
		outcome: "unknown",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := analyzeOne(t, sessionPcap(t, tc.segs))
			if c.SMTP == nil || len(c.SMTP.Transactions) != 1 {
				t.Fatalf("SMTP %+v, want one transaction", c.SMTP)
			}
			tx := c.SMTP.Transactions[0]
			wantCause := report.CauseCaptureIncomplete
			if tc.outcome == "delivered" {
				wantCause = report.CauseOK
			}
			if tx.Diagnosis.Cause != wantCause || tx.Outcome != tc.outcome || !tx.Incomplete {
				t.Errorf("transaction: outcome %s, cause %s, incomplete %v (%s); want %s, %s, incomplete",
					tx.Outcome, tx.Diagnosis.Cause, tx.Incomplete, tx.Diagnosis.Summary, tc.outcome, wantCause)
			}
			if c.Diagnosis.Layer == report.LayerL7 {
				t.Errorf("connection blamed on L7: %s (%s)", c.Diagnosis.Cause, c.Diagnosis.Summary)
			}
		})
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// TestConflictingRetransmission: a retransmission that carries other
// bytes than the segment it repeats (DATA, then RSET at the same sequence
// numbers, answered 354) is named, with both frames, in the L4 facts, and
// the transaction it falls in is unknown, never a failure read from one
// version (issue 14). A retransmission with the same bytes is nothing.
func TestConflictingRetransmission(t *testing.T) {
	body := []wireSeg{
		{flags: "PA", payload: "Subject: test\r\n\r\nhello\r\n.\r\n"},
		{fromServer: true, flags: "PA", payload: "250 2.0.0 Ok: queued\r\n"},
		{flags: "PA", payload: "QUIT\r\n"},
		{fromServer: true, flags: "PA", payload: "221 Bye\r\n"},
		{fromServer: true, flags: "FA"}, {flags: "FA"}, {fromServer: true, flags: "A"},
	}
	mailTo := envelope[:10]
	cases := []struct {
		name      string
		resend    string
		conflicts int
		outcome   string
	}{
		{"other bytes", "RSET\r\n", 1, "unknown"},
		{"same bytes", "DATA\r\n", 0, "delivered"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			segs := join(mailTo, []wireSeg{
				{flags: "PA", payload: "DATA\r\n"},
				{flags: "PA", payload: tc.resend, again: true, wait: 200 * time.Millisecond},
				{fromServer: true, flags: "PA", payload: "354 go ahead\r\n"},
			}, body)
			c := analyzeOne(t, sessionPcap(t, segs))
			if len(c.L4.Conflicts) != tc.conflicts || c.L4.ConflictCount != tc.conflicts {
				t.Fatalf("conflicts %+v (count %d), want %d", c.L4.Conflicts, c.L4.ConflictCount, tc.conflicts)
			}
			if tc.conflicts > 0 {
				cf := c.L4.Conflicts[0]
				if cf.By != "client" || cf.OriginalFrame != 11 || cf.RetransmissionFrame != 12 || cf.Bytes != 6 {
					t.Errorf("conflict %+v, want client, frames 11 and 12, 6 bytes", cf)
				}
				if notes := strings.Join(c.L4.Notes, "\n"); !strings.Contains(notes, "frame 12 retransmits the client's 6 bytes of frame 11") {
					t.Errorf("L4 notes %q do not name both frames", notes)
				}
			}
			if c.SMTP == nil || len(c.SMTP.Transactions) != 1 {
				t.Fatalf("SMTP %+v, want one transaction", c.SMTP)
			}
			if tx := c.SMTP.Transactions[0]; tx.Outcome != tc.outcome {
				t.Errorf("outcome %s (%s: %s), want %s", tx.Outcome, tx.Diagnosis.Cause, tx.Diagnosis.Summary, tc.outcome)
			}
		})
	}
}
