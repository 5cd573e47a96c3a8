package smtp

import (
	"bytes"
	"strings"
	"testing"
)

// record returns a TLS record of type t with n bytes of fragment.
func record(t byte, n int) string {
	return string(append([]byte{t, 3, 3, byte(n >> 8), byte(n)}, bytes.Repeat([]byte{0xaa}, n)...))
}

// serverHello12 is a ServerHello choosing TLS 1.2 and
// TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (RFC 5246 §7.4.1.3).
func serverHello12() string {
	body := append([]byte{3, 3}, bytes.Repeat([]byte{1}, 32)...)
	body = append(body, 0, 0xc0, 0x2f, 0)
	msg := append([]byte{2, 0, 0, byte(len(body))}, body...)
	return string(append([]byte{22, 3, 3, 0, byte(len(msg))}, msg...))
}

// tls12Prologue is a STARTTLS session whose TLS 1.2 handshake completes
// (both Finished), then the EHLO and its reply in records: ten steps.
func tls12Prologue(t *testing.T) []step {
	hello := string(clientHelloBytes(t, "relay.example"))
	ccs := "\x14\x03\x03\x00\x01\x01"
	return steps(
		S("220 relay.example ESMTP\r\n"), C("EHLO client.example\r\n"), S("250-relay.example\r\n250 STARTTLS\r\n"),
		C("STARTTLS\r\n"), S("220 2.0.0 go ahead\r\n"), C(hello),
		S(serverHello12()+ccs+record(22, 40)), C(ccs+record(22, 40)), // both Finished: established
		C(record(23, 40)), S(record(23, 120)), // EHLO and its reply
	)
}

// TestInferredTransactions runs a STARTTLS session whose TLS 1.2
// handshake completes, then record flights, and checks the transactions
// inferred from them (steps are one second apart).
func TestInferredTransactions(t *testing.T) {
	prologue := tls12Prologue(t)
	body := C(record(23, 16408) + record(23, 16408) + record(23, 2000)) // 34.8 kB in one flight
	tests := []struct {
		name     string
		tail     []step
		outcome  Outcome
		answered bool
		ended    EndReason
		next     int
	}{
		{"answered", steps(body, S(record(23, 40)), C(record(23, 30)), CFIN), OutcomeUnknown, true, 0, 0},
		{"no reply, then QUIT", steps(body, C(record(23, 30)), CFIN), OutcomeNoReply, false, EndClientClosed, 30},
		{"no reply, server closes", steps(body, SFIN), OutcomeNoReply, false, EndServerClosed, 0},
		{"no reply, capture ends", steps(body), OutcomeNoReply, false, EndCaptureEnded, 0},
		{"gap after the body", steps(body, SGap(40), C(record(23, 30)), CFIN), OutcomeUnknown, false, EndClientClosed, 30},
		{"commands only", steps(C(record(23, 60)), S(record(23, 40)), C(record(23, 30)), CFIN), 0, false, 0, -1},
	}
	for _, tc := range tests {
		s := run(Options{}, append(append([]step(nil), prologue...), tc.tail...)...)
		if s.TLS == nil || s.TLS.Handshake == nil || !s.TLS.Handshake.Established() {
			t.Fatalf("%s: TLS %+v not established", tc.name, s.TLS)
		}
		if tc.next < 0 {
			if len(s.TLS.Inferred) != 0 {
				t.Errorf("%s: %d inferred transactions, want none", tc.name, len(s.TLS.Inferred))
			}
			continue
		}
		if len(s.TLS.Inferred) != 1 {
			t.Fatalf("%s: %d inferred transactions, want 1", tc.name, len(s.TLS.Inferred))
		}
		x := s.TLS.Inferred[0]
		inf := x.Inferred
		// GCM in TLS 1.2: 24 bytes of overhead a record.
		if x.Outcome != tc.outcome || inf.Answered != tc.answered || inf.Records != 3 || inf.SizeMin != 34816-72 || inf.SizeMax != inf.SizeMin ||
			x.DataFrame != 11 || x.EndOfDataFrame != 11 || inf.Version != "TLS 1.2" {
			t.Errorf("%s: %+v %+v", tc.name, x, inf)
		}
		if tc.outcome == OutcomeNoReply && (x.Ended != tc.ended || inf.NextLength != tc.next) {
			t.Errorf("%s: ended %v, next record %d; want %v, %d", tc.name, x.Ended, inf.NextLength, tc.ended, tc.next)
		}
		if strings.Contains(tc.name, "gap") != x.Incomplete {
			t.Errorf("%s: incomplete %v", tc.name, x.Incomplete)
		}
	}
}

// TestInferredCutShort: a connection that ends inside one of the body's
// records never sent its end-of-data. The message is aborted (the report
// then gives the L4 or close cause, as for a body cut short in clear
// text), never a relay silent after an end-of-data it did not get; a body
// cut inside its first record is a message all the same, and a cut record
// is counted once whatever ends the connection after it.
func TestInferredCutShort(t *testing.T) {
	prologue := tls12Prologue(t)
	big := record(23, 16408)
	tests := []struct {
		name    string
		tail    []step
		n       int // inferred transactions
		outcome Outcome
		ended   EndReason
		records int
		sizeMax int64
	}{
		{"server resets inside the third record", steps(C(big+big+big[:1005]), SRST), 1, OutcomeAborted, EndServerReset, 3, 2*(16408-24) + 1000},
		{"server resets inside the first record", steps(C(big[:1005]), SRST), 1, OutcomeAborted, EndServerReset, 1, 1000},
		{"client gives up inside a record, FIN then the end", steps(C(big[:3005]), CFIN, SFIN), 1, OutcomeAborted, EndClientClosed, 1, 3000},
		{"capture ends inside a record", steps(C(big + big[:505])), 1, OutcomeAborted, EndCaptureEnded, 2, 16408 - 24 + 500},
		{"whole records, then a reset: no reply", steps(C(big+big), SRST), 1, OutcomeNoReply, EndServerReset, 2, 2 * (16408 - 24)},
		{"a command-sized record cut short", steps(C(record(23, 60)[:30]), SRST), 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		s := run(Options{}, append(append([]step(nil), prologue...), tc.tail...)...)
		if s.TLS == nil || len(s.TLS.Inferred) != tc.n {
			t.Fatalf("%s: TLS %+v, want %d inferred transactions", tc.name, s.TLS, tc.n)
		}
		if tc.n == 0 {
			continue
		}
		x := s.TLS.Inferred[0]
		if x.Outcome != tc.outcome || x.Ended != tc.ended || x.Inferred.Records != tc.records || x.Inferred.SizeMax != tc.sizeMax {
			t.Errorf("%s: outcome %v, ended %v, %d records, size ≤ %d; want %v, %v, %d, %d",
				tc.name, x.Outcome, x.Ended, x.Inferred.Records, x.Inferred.SizeMax, tc.outcome, tc.ended, tc.records, tc.sizeMax)
		}
		if (tc.outcome == OutcomeAborted) != (x.EndOfDataFrame == 0) {
			t.Errorf("%s: end-of-data frame %d", tc.name, x.EndOfDataFrame)
		}
	}
}
