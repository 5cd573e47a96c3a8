package smtp

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/smtpscope/smtpscope/reassembly"
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

// syncedView prints what the Session's TLS shows, through its pointers.
func syncedView(s *Session) string {
	if s.TLS == nil {
		return "no TLS"
	}
	v := fmt.Sprintf("%+v\n", *s.TLS)
	if s.TLS.Handshake != nil {
		v += fmt.Sprintf("handshake %+v\n", *s.TLS.Handshake)
	}
	if p := s.TLS.Pending; p != nil {
		v += fmt.Sprintf("pending %+v %+v\n", *p, *p.Inferred)
	}
	for _, x := range s.TLS.Inferred {
		v += fmt.Sprintf("inferred %+v %+v\n", x, *x.Inferred)
	}
	return v
}

// TestSyncTLSCurrent: syncTLS copies only what changed, yet after every
// call the Session's TLS (which a live view reads between calls) is what
// it is with a sync that copies everything. The sessions of the inference
// tests are fed in pieces that end inside records, between them and
// across them, to two decoders: one as it is, one whose every sync copies
// everything.
func TestSyncTLSCurrent(t *testing.T) {
	prologue := tls12Prologue(t)
	big := record(23, 16408)
	body := C(record(23, 16408) + record(23, 16408) + record(23, 2000))
	tails := [][]step{
		steps(body, S(record(23, 40)), C(record(23, 30)), CFIN),
		steps(body, C(record(23, 30)), CFIN),
		steps(body, SFIN),
		steps(body),
		steps(body, SGap(40), C(record(23, 30)), CFIN),
		steps(body, CGap(40), S(record(23, 40)), C(record(23, 30)), CFIN),
		steps(C(record(23, 60)), S(record(23, 40)), C(record(23, 30)), CFIN),
		steps(C(big+big+big[:1005]), SRST),
		steps(C(big[:3005]), CFIN, SFIN),
		steps(C(big + big[:505])),
		steps(C(record(23, 60)[:30]), SRST),
	}
	for i, tail := range tails {
		for _, piece := range []int{7, 1000, 20000} {
			d, full := NewDecoder(Options{}), NewDecoder(Options{})
			frame := 0
			call := func(what string, f func(d *Decoder)) {
				t.Helper()
				if full.tls != nil {
					full.tls.synced = tlsSynced{} // the next sync copies everything
				}
				f(d)
				f(full)
				if !reflect.DeepEqual(d.s.TLS, full.s.TLS) {
					t.Fatalf("tail %d, pieces of %d, frame %d (%s): the Session's TLS\n%s\nwant\n%s", i, piece, frame, what, syncedView(&d.s), syncedView(&full.s))
				}
			}
			for _, s := range append(append([]step(nil), prologue...), tail...) {
				if s.kind != stepData {
					frame++
					call("control", func(d *Decoder) { feedStep(d, frame-1, s) })
					continue
				}
				for p := s.data; len(p) > 0; {
					n := min(piece, len(p))
					frame++
					call("data", func(d *Decoder) { d.Data(s.dir, []byte(p[:n]), reassembly.ConstMarker(markOf(frame))) })
					p = p[n:]
				}
			}
			call("end", func(d *Decoder) { d.End(markOf(frame + 1)) })
		}
	}
}
