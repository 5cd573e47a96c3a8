package smtp

import (
	"crypto/tls"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
)

// prologue is a greeting and an EHLO exchange: frames 1 to 3.
var prologue = []step{
	S("220 mx.example.com ESMTP\r\n"),
	C("EHLO client.example.com\r\n"),
	S("250-mx.example.com Hello\r\n250-PIPELINING\r\n250-size 10240000\r\n250-8BITMIME\r\n250 CHUNKING\r\n"),
}

// envelope is MAIL, RCPT, DATA and 354: frames 4 to 9.
var envelope = []step{
	C("MAIL FROM:<alice@example.com> SIZE=100\r\n"),
	S("250 2.1.0 Ok\r\n"),
	C("RCPT TO:<bob@example.org>\r\n"),
	S("250 2.1.5 Ok\r\n"),
	C("DATA\r\n"),
	S("354 End data with <CR><LF>.<CR><LF>\r\n"),
}

// with returns the prologue followed by steps.
func with(steps ...[]step) []step {
	out := append([]step(nil), prologue...)
	for _, s := range steps {
		out = append(out, s...)
	}
	return out
}

func steps(s ...step) []step { return s }

// clientHelloBytes returns the first TLS record crypto/tls sends as a
// client for serverName.
func clientHelloBytes(t testing.TB, serverName string) []byte {
	t.Helper()
	c, s := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = tls.Client(c, &tls.Config{ServerName: serverName, InsecureSkipVerify: true}).Handshake()
	}()
	defer func() {
		s.Close()
		c.Close()
		<-done
	}()
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatalf("reading the ClientHello: %v", err)
	}
	rec := make([]byte, 5+(int(hdr[3])<<8|int(hdr[4])))
	copy(rec, hdr)
	if _, err := io.ReadFull(s, rec[5:]); err != nil {
		t.Fatalf("reading the ClientHello: %v", err)
	}
	return rec
}

// tx returns the session's only transaction.
func tx(t *testing.T, s *Session) *Transaction {
	t.Helper()
	if len(s.Transactions) != 1 {
		t.Fatalf("%d transactions, want 1:\n%s", len(s.Transactions), dump(s))
	}
	return &s.Transactions[0]
}

func wantOutcome(t *testing.T, s *Session, i int, o Outcome) *Transaction {
	t.Helper()
	if i >= len(s.Transactions) {
		t.Fatalf("no transaction %d:\n%s", i, dump(s))
	}
	x := &s.Transactions[i]
	if x.Outcome != o {
		t.Errorf("transaction %d outcome %v, want %v:\n%s", i, x.Outcome, o, dump(s))
	}
	return x
}

func wantEnd(t *testing.T, x *Transaction, why EndReason, frame int) {
	t.Helper()
	if x.Ended != why || x.EndFrame != frame {
		t.Errorf("ended %v in frame %d, want %v in frame %d", x.Ended, x.EndFrame, why, frame)
	}
}

func wantVerbs(t *testing.T, s *Session, want ...string) {
	t.Helper()
	if got := verbs(s); !reflect.DeepEqual(got, want) {
		t.Errorf("verbs %q, want %q", got, want)
	}
}

func wantAnomalies(t *testing.T, s *Session, want ...string) {
	t.Helper()
	got := anomalyNames(s)
	if len(want) == 0 {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("anomalies %q, want %q:\n%s", got, want, dump(s))
	}
}

func TestSessionDelivered(t *testing.T) {
	body := "Subject: hi\r\nMessage-ID: <m1@example.com>\r\n\r\nhello\r\n"
	s := run(Options{}, with(envelope, steps(
		C(body+".\r\n"),                      // 10
		S("250 2.0.0 Ok: queued as ABC\r\n"), // 11
		C("QUIT\r\n"),                        // 12
		S("221 2.0.0 Bye\r\n"),               // 13
		SFIN, CFIN,                           // 14, 15
	))...)
	if !s.IsSMTP || s.MidStream || s.TLS != nil {
		t.Errorf("IsSMTP %v MidStream %v TLS %v, want true false nil", s.IsSMTP, s.MidStream, s.TLS)
	}
	if s.Banner == nil || s.Banner.Code != 220 || s.Banner.Text != "mx.example.com ESMTP" || s.Banner.Frame != 1 {
		t.Errorf("banner %+v", s.Banner)
	}
	if s.Hello != "client.example.com" {
		t.Errorf("hello %q", s.Hello)
	}
	if want := []string{"PIPELINING", "SIZE 10240000", "8BITMIME", "CHUNKING"}; !reflect.DeepEqual(s.Extensions, want) {
		t.Errorf("extensions %q, want %q", s.Extensions, want)
	}
	wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "DATA", "QUIT")
	wantAnomalies(t, s)
	for _, c := range s.Commands {
		if c.Reply == nil || c.Latency() != time.Second {
			t.Errorf("command %s: reply %+v latency %v, want a reply 1s later", c.Verb, c.Reply, c.Latency())
		}
	}
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.MailFrom != "alice@example.com" || x.SizeParam != 100 || len(x.Rcpts) != 1 || x.Rcpts[0].Addr != "bob@example.org" ||
		x.Rcpts[0].Reply == nil || x.Rcpts[0].Reply.Code != 250 || x.Rcpts[0].Frame != 6 {
		t.Errorf("envelope %+v", x)
	}
	if x.Method != "DATA" || x.Size != int64(len(body)) || x.MessageID != "<m1@example.com>" {
		t.Errorf("method %q size %d message-id %q, want DATA %d <m1@example.com>", x.Method, x.Size, x.MessageID, len(body))
	}
	if x.MailFrame != 4 || x.DataFrame != 8 || x.EndOfDataFrame != 10 || x.EndOfDataTime != markOf(10).Time {
		t.Errorf("frames mail %d data %d eod %d", x.MailFrame, x.DataFrame, x.EndOfDataFrame)
	}
	if r := x.Reply; r == nil || r.Code != 250 || r.Enhanced.String() != "2.0.0" || r.Text != "Ok: queued as ABC" || r.Frame != 11 || r.Lines != 1 {
		t.Errorf("final reply %+v", r)
	}
	if x.MailReply == nil || x.MailReply.Code != 250 || x.DataReply == nil || x.DataReply.Code != 354 {
		t.Errorf("mail reply %+v data reply %+v", x.MailReply, x.DataReply)
	}
	if x.Latency() != time.Second || x.EndFrame != 0 || x.Incomplete || x.LateReply {
		t.Errorf("latency %v end frame %d incomplete %v late %v", x.Latency(), x.EndFrame, x.Incomplete, x.LateReply)
	}
}

func TestSessionPipelining(t *testing.T) {
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nDATA\r\n"), // 4
		S("250 Ok\r\n250 Ok\r\n550 5.1.1 No such user\r\n"),                // 5
		S("354 go ahead\r\n"),     // 6
		C("body\r\n.\r\n"),        // 7
		S("250 2.0.0 queued\r\n"), // 8
	))...)
	wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "RCPT", "DATA")
	for i, want := range []int{250, 250, 250, 550, 354} {
		if r := s.Commands[i].Reply; r == nil || r.Code != want {
			t.Errorf("command %d reply %+v, want %d", i, r, want)
		}
	}
	if got := s.Commands[4].Latency(); got != 2*time.Second {
		t.Errorf("DATA latency %v, want 2s", got)
	}
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.Rcpts[1].Reply.Enhanced.String() != "5.1.1" || x.Size != 6 || x.EndOfDataFrame != 7 {
		t.Errorf("rcpt reply %+v size %d eod frame %d", x.Rcpts[1].Reply, x.Size, x.EndOfDataFrame)
	}
}

// TestSessionBodyBefore354 is the suricata-verify smtp-pipelining case:
// the client sends the body right behind DATA.
func TestSessionBodyBefore354(t *testing.T) {
	s := run(Options{}, with(steps(
		C("MAIL FROM:<username@domain.com>\r\nRCPT TO:<john.doe@example.com>\r\nDATA\r\nThis is a test\r\n.\r\n"),
		S("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as BCB022014FB060\r\n"),
	))...)
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.Size != int64(len("This is a test\r\n")) || x.EndOfDataFrame != 4 || x.DataReply.Code != 354 || x.Reply.Text != "Ok: queued as BCB022014FB060" {
		t.Errorf("size %d eod %d data reply %+v reply %+v", x.Size, x.EndOfDataFrame, x.DataReply, x.Reply)
	}
	wantAnomalies(t, s, "body-before-354")
}

func TestSessionBDAT(t *testing.T) {
	// The first chunk ends in the middle of frame 5, where a pipelined
	// BDAT LAST follows it, then a QUIT in the same frame.
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x> BODY=BINARYMIME\r\nRCPT TO:<b@x>\r\nBDAT 19\r\nSubject: x\r\n"), // 4
		C("\r\nhelloBDAT 8 LAST\r\n world\r\nQUIT\r\n"),                                    // 5
		S("250 Ok\r\n250 Ok\r\n250 2.0.0 19 octets received\r\n"),                          // 6
		S("250 2.0.0 Message queued\r\n221 Bye\r\n"),                                       // 7
		CFIN,
	))...)
	wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "QUIT")
	wantAnomalies(t, s)
	if s.Commands[3].Arg != "19" || s.Commands[4].Arg != "8 LAST" || s.Commands[3].Reply.Text != "19 octets received" {
		t.Errorf("BDAT commands %+v %+v", s.Commands[3], s.Commands[4])
	}
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.Method != "BDAT" || x.Chunks != 2 || x.Size != 27 || x.BodyParam != "BINARYMIME" || x.DataFrame != 4 || x.EndOfDataFrame != 5 || x.Reply.Frame != 7 || x.EndFrame != 0 {
		t.Errorf("transaction %+v", x)
	}
}

func TestSessionBDATZeroLast(t *testing.T) {
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
		C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"),
		C("BDAT 0 LAST\r\n"), S("250 2.0.0 Ok: 0 bytes queued\r\n"),
		C("MAIL FROM:<b@x>\r\n"), S("250 Ok\r\n"),
	))...)
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.Size != 0 || x.EndOfDataFrame != 8 {
		t.Errorf("size %d eod %d", x.Size, x.EndOfDataFrame)
	}
	if len(s.Transactions) != 2 || s.Transactions[1].MailFrom != "b@x" {
		t.Errorf("second transaction missing:\n%s", dump(s))
	}
}

func TestSessionInvalidBDAT(t *testing.T) {
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
		C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"),
		C("BDAT 5 X\r\n"), S("521 5.5.4 Syntax: BDAT count [LAST]\r\n"),
		C("QUIT\r\n"), SFIN,
	))...)
	wantOutcome(t, s, 0, OutcomeRejected)
	wantAnomalies(t, s, "invalid-bdat-command")
	wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "BDAT", "QUIT")
}

// TestSessionEndOfDataSplit feeds "\r\n.\r\n" over three Data calls: the
// end-of-data is where its last byte arrived.
func TestSessionEndOfDataSplit(t *testing.T) {
	s := run(Options{}, with(envelope, steps(
		C("line one\r"),     // 10
		C("\n."),            // 11
		C("\r\n"),           // 12
		S("250 queued\r\n"), // 13
	))...)
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if x.EndOfDataFrame != 12 || x.Size != int64(len("line one\r\n")) || x.Latency() != time.Second {
		t.Errorf("eod frame %d size %d latency %v, want 12, 10, 1s", x.EndOfDataFrame, x.Size, x.Latency())
	}
}

func TestSessionBodyForms(t *testing.T) {
	tests := []struct {
		name, body string
		size       int64
		anomalies  []string
	}{
		{"dot-stuffed lines", "..leading dot\r\n...\r\n.\r\n", 20, nil},
		{"CRLF dot CRLF at the very start", "\r\n.\r\n", 2, nil},
		{"empty body", ".\r\n", 0, nil},
		{"bare LF dot line", "a\n.\nb\r\n.\r\n", 7, []string{"bare-lf-end-of-data"}},
		{"NUL and binary", "\x00\xff\xfe\r\n.\r\n", 5, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, with(envelope, steps(C(tc.body), S("250 Ok\r\n")))...)
			x := wantOutcome(t, s, 0, OutcomeDelivered)
			if x.Size != tc.size || x.EndOfDataFrame != 10 {
				t.Errorf("size %d eod %d, want %d 10", x.Size, x.EndOfDataFrame, tc.size)
			}
			wantAnomalies(t, s, tc.anomalies...)
		})
	}
}

func TestSessionNoReply(t *testing.T) {
	eod := C("body\r\n.\r\n") // frame 10
	tests := []struct {
		name  string
		tail  []step
		why   EndReason
		frame int
	}{
		{"client QUIT then FIN", steps(eod, C("QUIT\r\n"), CFIN), EndClientClosed, 11},
		{"client FIN", steps(eod, CFIN), EndClientClosed, 11},
		{"client RST", steps(eod, CRST), EndClientReset, 11},
		{"server FIN", steps(eod, SFIN, CFIN), EndServerClosed, 11},
		{"server RST", steps(eod, SRST), EndServerReset, 11},
		{"capture ended", steps(eod), EndCaptureEnded, 11},
		// Pipelined behind the dot, QUIT is no sign of giving up.
		{"QUIT pipelined with the dot", steps(C("body\r\n.\r\nQUIT\r\n"), CFIN), EndClientClosed, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, with(envelope, tc.tail)...)
			x := wantOutcome(t, s, 0, OutcomeNoReply)
			wantEnd(t, x, tc.why, tc.frame)
			if x.Reply != nil || x.PartialReply != nil || x.EndOfDataFrame != 10 || x.Waited() != time.Second {
				t.Errorf("reply %+v partial %+v eod %d waited %v", x.Reply, x.PartialReply, x.EndOfDataFrame, x.Waited())
			}
		})
	}
}

// TestSessionPartialReply is KB 303118: the 250 never got its CRLF.
func TestSessionPartialReply(t *testing.T) {
	s := run(Options{}, with(envelope, steps(
		C("body\r\n.\r\n"),                // 10
		S("250 2.0.0 Ok: queued as 1234"), // 11
		C("QUIT\r\n"),                     // 12
		CFIN,                              // 13
	))...)
	x := wantOutcome(t, s, 0, OutcomeNoReply)
	wantEnd(t, x, EndClientClosed, 12)
	p := x.PartialReply
	if x.Reply != nil || p == nil || !p.Partial || p.Code != 250 || p.Enhanced.String() != "2.0.0" || p.Frame != 11 {
		t.Errorf("reply %+v partial %+v", x.Reply, p)
	}
	wantAnomalies(t, s, "partial-reply")
}

func TestSessionPartialMultiLineReply(t *testing.T) {
	s := run(Options{}, with(envelope, steps(
		C("body\r\n.\r\n"),
		S("250-first line\r\n"),
		SRST,
	))...)
	x := wantOutcome(t, s, 0, OutcomeNoReply)
	wantEnd(t, x, EndServerReset, 12)
	if p := x.PartialReply; p == nil || p.Code != 250 || p.Lines != 1 || !p.Partial {
		t.Errorf("partial %+v", p)
	}
}

func TestSessionAborted(t *testing.T) {
	tests := []struct {
		name  string
		tail  []step
		why   EndReason
		frame int
	}{
		{"client RST during DATA", steps(C("part of the body\r\nmore"), CRST), EndClientReset, 11},
		{"server RST during DATA", steps(C("part of the body\r\n"), SRST), EndServerReset, 11},
		{"server FIN during DATA", steps(C("part of the body\r\n"), SFIN, CFIN), EndServerClosed, 11},
		{"capture ends during DATA", steps(C("part of the body\r\n")), EndCaptureEnded, 11},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, with(envelope, tc.tail)...)
			x := wantOutcome(t, s, 0, OutcomeAborted)
			wantEnd(t, x, tc.why, tc.frame)
			if x.EndOfDataFrame != 0 || x.Method != "DATA" {
				t.Errorf("eod %d method %q", x.EndOfDataFrame, x.Method)
			}
		})
	}
}

func TestSessionLateReply(t *testing.T) {
	s := run(Options{}, with(envelope, steps(
		C("body\r\n.\r\n"),                   // 10
		C("QUIT\r\n"),                        // 11
		S("250 2.0.0 queued\r\n221 Bye\r\n"), // 12
	))...)
	x := wantOutcome(t, s, 0, OutcomeDelivered)
	if !x.LateReply {
		t.Errorf("LateReply false")
	}
	wantEnd(t, x, EndClientClosed, 11)
	wantAnomalies(t, s, "late-reply")
}

func TestSessionRefusals(t *testing.T) {
	tests := []struct {
		name string
		tail []step
		want Outcome
	}{
		{"all recipients refused", steps(
			C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"),
			S("250 Ok\r\n550 5.1.1 unknown\r\n554 5.7.1 relay denied\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n")), OutcomeRejected},
		{"a recipient deferred", steps(
			C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\n"),
			S("250 Ok\r\n550 5.1.1 unknown\r\n451 4.7.1 greylisted\r\n"),
			C("RSET\r\n"), S("250 Ok\r\n")), OutcomeDeferred},
		{"MAIL refused", steps(
			C("MAIL FROM:<a@x>\r\n"), S("553 5.1.8 bad sender\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n")), OutcomeRejected},
		{"DATA refused", steps(
			C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
			C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"),
			C("DATA\r\n"), S("554 5.5.1 Error: no valid recipients\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n")), OutcomeRejected},
		{"final 451", steps(envelope[0], envelope[1], envelope[2], envelope[3], envelope[4], envelope[5],
			C("x\r\n.\r\n"), S("451 4.3.0 try later\r\n")), OutcomeDeferred},
		{"reply without a basic code", steps(envelope[0], envelope[1], envelope[2], envelope[3], envelope[4], envelope[5],
			C("x\r\n.\r\n"), S("4.7.0 [IPTS04] Messages from 192.0.2.1 temporarily deferred\r\n"), C("QUIT")), OutcomeDeferred},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, with(tc.tail)...)
			x := wantOutcome(t, s, 0, tc.want)
			if x.EndFrame != 0 {
				t.Errorf("end frame %d for a refused transaction", x.EndFrame)
			}
		})
	}
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
		C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"),
		C("DATA\r\n"), S("554 5.5.1 Error: no valid recipients\r\n"),
	))...)
	if x := tx(t, s); x.Method != "" || x.DataReply == nil || x.DataReply.Code != 554 || x.Reply != nil || x.DataFrame != 8 {
		t.Errorf("refused DATA: %+v", x)
	}
}

func TestSessionClientAbandons(t *testing.T) {
	s := run(Options{}, with(steps(
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
		C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"),
		C("RSET\r\n"), S("250 Ok\r\n"), // 8, 9
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"), // 10, 11
		C("MAIL FROM:<c@x>\r\n"), S("250 Ok\r\n"), // 12, 13
	))...)
	// Every command answered 2xx: the client chose to leave (RSET, a new
	// MAIL), no message failed.
	wantEnd(t, wantOutcome(t, s, 0, OutcomeWithdrawn), EndClientClosed, 8)
	wantEnd(t, wantOutcome(t, s, 1, OutcomeWithdrawn), EndClientClosed, 12)
	wantOutcome(t, s, 2, OutcomeUnknown)
	wantAnomalies(t, s, "nested-mail-transaction")
}

func TestSessionAuthSecrets(t *testing.T) {
	secrets := []string{
		"Z3VycGFydGFwQHBhdHJpb3RzLmlu", "gurpartap@patriots.in",
		"cHVuamFiQDEyMw==", "cHVuamFi", "QDEyMw", "punjab@123",
		"AGFsaWNlAHMzY3JldA==", "s3cret",
	}
	tests := []struct {
		name      string
		tail      []step
		verbs     []string
		authReply int
		anomalies []string
	}{
		{"LOGIN", steps(
			C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"),
			C("Z3VycGFydGFwQHBhdHJpb3RzLmlu\r\n"), S("334 UGFzc3dvcmQ6\r\n"),
			C("cHVuamFi"), C("QDEyMw==\r\n"), S("235 Authentication succeeded\r\n"),
			C("MAIL FROM:<gurpartap@patriots.in>\r\n"), S("250 OK\r\n"),
		), []string{"EHLO", "AUTH", "MAIL"}, 235, nil},
		{"PLAIN initial response", steps(
			C("AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\n"), S("235 2.7.0 ok\r\n"),
		), []string{"EHLO", "AUTH"}, 235, nil},
		{"PLAIN empty challenge", steps(
			C("AUTH PLAIN\r\n"), S("334 \r\n"),
			C("AGFsaWNlAHMzY3JldA==\r\n"), S("535 5.7.8 Authentication credentials invalid\r\n"),
		), []string{"EHLO", "AUTH"}, 535, nil},
		{"cancelled", steps(
			C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"),
			C("*\r\n"), S("501 5.7.0 Authentication cancelled\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"),
		), []string{"EHLO", "AUTH", "QUIT"}, 501, nil},
		// suricata-verify smtp-long-command: the QUIT is read, by the
		// server as by us, as the username.
		{"QUIT during the exchange", steps(
			C("AUTH LOGIN\r\n"), S("334 VXNlcm5hbWU6\r\n"),
			C("QUIT\r\n"), S("334 UGFzc3dvcmQ6\r\n"), CFIN,
		), []string{"EHLO", "AUTH"}, 0, nil},
		{"PLAIN pipelined with MAIL", steps(
			C("AUTH PLAIN AGFsaWNlAHMzY3JldA==\r\nMAIL FROM:<a@x>\r\n"),
			S("235 ok\r\n250 ok\r\n"),
		), []string{"EHLO", "AUTH", "MAIL"}, 235, []string{"command-during-auth"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, with(tc.tail)...)
			wantVerbs(t, s, tc.verbs...)
			wantAnomalies(t, s, tc.anomalies...)
			auth := s.Commands[1]
			if auth.Arg != "LOGIN" && auth.Arg != "PLAIN" {
				t.Errorf("AUTH arg %q", auth.Arg)
			}
			if got := 0; auth.Reply != nil {
				got = auth.Reply.Code
				if got != tc.authReply {
					t.Errorf("AUTH reply %d, want %d", got, tc.authReply)
				}
			} else if tc.authReply != 0 {
				t.Errorf("AUTH reply nil, want %d", tc.authReply)
			}
			out := dump(s)
			for _, secret := range secrets {
				if strings.Contains(out, secret) && secret != "gurpartap@patriots.in" {
					t.Errorf("the session keeps the secret %q:\n%s", secret, out)
				}
			}
		})
	}
}

func TestSessionSTARTTLS(t *testing.T) {
	hello := string(clientHelloBytes(t, "mx.example.com"))
	s := run(Options{}, with(steps(
		C("STARTTLS\r\n"),                             // 4
		S("220 2.0.0 Ready to start TLS\r\n"),         // 5
		C(hello[:40]),                                 // 6
		C(hello[40:]),                                 // 7
		S("\x16\x03\x03\x00\x05\x02\x00\x00\x01\x00"), // 8
		C("\x17\x03\x03\x00\x10EHLO inside TLS\r\n"),  // 9
	))...)
	wantVerbs(t, s, "EHLO", "STARTTLS")
	wantAnomalies(t, s)
	want := tlsView{How: "starttls", Frame: 6, Version: "TLS 1.3", ServerName: "mx.example.com"}
	if s.TLS == nil || tlsBasics(s.TLS) != want {
		t.Errorf("TLS %+v, want %+v", s.TLS, want)
	}
	if r := s.Commands[1].Reply; r == nil || r.Code != 220 {
		t.Errorf("STARTTLS reply %+v", r)
	}

	s = run(Options{}, with(steps(
		C("STARTTLS\r\n"), S("454 4.7.0 TLS not available\r\n"),
		C("MAIL FROM:<a@x>\r\n"), S("250 Ok\r\n"),
	))...)
	if s.TLS != nil || len(s.Transactions) != 1 {
		t.Errorf("refused STARTTLS: TLS %+v, %d transactions", s.TLS, len(s.Transactions))
	}

	s = run(Options{}, with(steps(C("STARTTLS\r\nRSET\r\n"), S("220 go\r\n"), C(hello)))...)
	wantAnomalies(t, s, "command-after-starttls")
}

// tlsBasics is what the decoder reads of TLS itself, without the record
// layer's facts (tested in tlsrecord and tlsinfer_test.go).
func tlsBasics(t *TLS) tlsView {
	return tlsView{How: t.How, Frame: t.Frame, Version: t.Version, ServerName: t.ServerName}
}

type tlsView struct {
	How        string
	Frame      int
	Version    string
	ServerName string
}

func TestSessionImplicitTLS(t *testing.T) {
	hello := clientHelloBytes(t, "smtp.example.net")
	s := run(Options{}, C(string(hello)), S("\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03"))
	want := tlsView{How: "implicit", Frame: 1, Version: "TLS 1.3", ServerName: "smtp.example.net"}
	if s.IsSMTP || s.TLS == nil || tlsBasics(s.TLS) != want || len(s.Commands) != 0 || len(s.Anomalies) != 0 {
		t.Errorf("IsSMTP %v TLS %+v commands %d anomalies %v, want false %+v 0 0", s.IsSMTP, s.TLS, len(s.Commands), s.Anomalies, want)
	}

	// A client that speaks TLS to a plaintext server (suricata-verify
	// smtperr, port 465).
	s = run(Options{}, S("220 v02.kerne.org ESMTP Postfix\r\n"), C(string(hello)), S("402 4.5.2 Error: command not recognized\r\n"))
	if !s.IsSMTP || s.TLS == nil || s.TLS.How != "implicit" || s.TLS.ServerName != "smtp.example.net" || !hasAnomaly(s, "tls-without-starttls") {
		t.Errorf("TLS to a plaintext server:\n%s", dump(s))
	}
}

func TestSessionGaps(t *testing.T) {
	t.Run("server gap hides the final reply", func(t *testing.T) {
		s := run(Options{}, with(envelope, steps(
			C("body\r\n.\r\n"), SGap(40), C("QUIT\r\n"), S("221 2.0.0 Bye\r\n"),
		))...)
		x := wantOutcome(t, s, 0, OutcomeUnknown)
		if !x.Incomplete || x.Reply != nil {
			t.Errorf("incomplete %v reply %+v", x.Incomplete, x.Reply)
		}
		if r := s.Commands[len(s.Commands)-1].Reply; r == nil || r.Code != 221 {
			t.Errorf("QUIT reply %+v", r)
		}
	})
	t.Run("client gap hides the end-of-data", func(t *testing.T) {
		s := run(Options{}, with(envelope, steps(
			C("part one\r\n"), CGap(100), C("tail\r\n"), S("250 2.0.0 queued\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"),
		))...)
		x := wantOutcome(t, s, 0, OutcomeDelivered)
		if !x.Incomplete || x.EndOfDataFrame != 0 || x.Size != 116 {
			t.Errorf("incomplete %v eod %d size %d", x.Incomplete, x.EndOfDataFrame, x.Size)
		}
		wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "DATA", "QUIT")
		wantAnomalies(t, s, "content-gap", "end-of-data-in-gap")
	})
	t.Run("client gap in the middle of a command", func(t *testing.T) {
		s := run(Options{}, with(steps(
			C("MAIL FROM:<a@x>\r\nRCPT TO:<b"), CGap(20), C("ple.com>\r\nRCPT TO:<c@x>\r\n"),
			S("250 Ok\r\n250 Ok\r\n250 Ok\r\n"),
		))...)
		// The cut RCPT is kept with the visible start of its address, so
		// that the three replies answer the three commands.
		wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "RCPT")
		x := tx(t, s)
		if !x.Incomplete || len(x.Rcpts) != 2 || x.Rcpts[0].Addr != "b" || !x.Rcpts[0].Truncated || x.Rcpts[1].Addr != "c@x" || x.Rcpts[1].Reply == nil {
			t.Errorf("transaction %+v", x)
		}
		wantAnomalies(t, s, "content-gap")
	})
	t.Run("client gap inside a BDAT chunk", func(t *testing.T) {
		s := run(Options{}, with(steps(
			C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 100 LAST\r\n0123456789"), CGap(80), C("0123456789QUIT\r\n"),
			S("250 Ok\r\n250 Ok\r\n250 queued\r\n221 Bye\r\n"),
		))...)
		wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "BDAT", "QUIT")
		x := wantOutcome(t, s, 0, OutcomeDelivered)
		if x.Size != 100 || !x.Incomplete || x.EndOfDataFrame != 6 {
			t.Errorf("size %d incomplete %v eod %d", x.Size, x.Incomplete, x.EndOfDataFrame)
		}
	})
}

func TestSessionMidStream(t *testing.T) {
	t.Run("body", func(t *testing.T) {
		s := run(Options{},
			C("rest of the body\r\n.\r\n"), S("250 2.0.0 Ok: queued as X\r\n"),
			C("QUIT\r\n"), S("221 Bye\r\n"))
		if !s.IsSMTP || !s.MidStream || s.Banner != nil {
			t.Errorf("IsSMTP %v MidStream %v banner %+v", s.IsSMTP, s.MidStream, s.Banner)
		}
		x := wantOutcome(t, s, 0, OutcomeDelivered)
		if !x.Incomplete || x.EndOfDataFrame != 1 || x.Method != "DATA" {
			t.Errorf("transaction %+v", x)
		}
		wantVerbs(t, s, "QUIT")
	})
	t.Run("envelope", func(t *testing.T) {
		s := run(Options{}, C("RCPT TO:<b@x>\r\n"), S("250 Ok\r\n"), C("DATA\r\n"), S("354 go\r\n"), C(".\r\n"), S("250 Ok\r\n"))
		x := wantOutcome(t, s, 0, OutcomeDelivered)
		if !s.MidStream || !x.Incomplete || len(x.Rcpts) != 1 {
			t.Errorf("mid-stream %v transaction %+v", s.MidStream, x)
		}
	})
	t.Run("one side only", func(t *testing.T) {
		s := run(Options{}, C("EHLO x\r\n"), C("MAIL FROM:<a@x>\r\n"), C("RCPT TO:<b@x>\r\n"), C("DATA\r\n"), C("hi\r\n.\r\n"), C("QUIT\r\n"))
		if !s.IsSMTP || s.MidStream {
			t.Errorf("IsSMTP %v MidStream %v", s.IsSMTP, s.MidStream)
		}
		wantVerbs(t, s, "EHLO", "MAIL", "RCPT", "DATA", "QUIT")
		// Without a 354 the body is read as a body anyway (body-before-354).
		// The server's replies are missing from the capture, not from the
		// wire: the outcome is unknown, not no-reply.
		x := wantOutcome(t, s, 0, OutcomeUnknown)
		if !x.Incomplete || x.EndOfDataFrame != 5 || !hasAnomaly(s, "one-sided-capture") {
			t.Errorf("incomplete %v eod %d anomalies %q", x.Incomplete, x.EndOfDataFrame, anomalyNames(s))
		}
	})
}

func TestSessionNotSMTP(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
	}{
		{"HTTP", steps(
			C("GET / HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n"),
			S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nhi"))},
		{"binary", steps(C(strings.Repeat("\x00\x01\x02\xff", 40000)), S(strings.Repeat("\xfe", 70000)))},
		{"silent", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := run(Options{}, tc.steps...)
			if !reflect.DeepEqual(*s, Session{}) {
				t.Errorf("not SMTP, want an empty session:\n%s", dump(s))
			}
		})
	}
}

func TestSessionGreetings(t *testing.T) {
	s := run(Options{}, S("421 4.3.2 Service shutting down\r\n"), SFIN, C("QUIT\r\n"), CRST)
	if !s.IsSMTP || s.Banner == nil || s.Banner.Code != 421 || s.Banner.Enhanced.String() != "4.3.2" || len(s.Transactions) != 0 {
		t.Errorf("421 greeting:\n%s", dump(s))
	}
	s = run(Options{}, S("220-first\r\n220-second\r\n220 third\r\n"))
	if s.Banner == nil || s.Banner.Lines != 3 || s.Banner.Text != "first" || s.Banner.Frame != 1 {
		t.Errorf("multi-line greeting %+v", s.Banner)
	}
	// Exim PIPE_CONNECT: EHLO before the greeting.
	s = run(Options{}, C("EHLO Bob-PC\r\n"), S("220 tinkyx390 ESMTP Exim\r\n250-tinkyx390 Hello\r\n250 PIPELINING\r\n"))
	if s.MidStream || s.Banner == nil || s.Commands[0].Reply == nil || s.Commands[0].Reply.Code != 250 || !reflect.DeepEqual(s.Extensions, []string{"PIPELINING"}) {
		t.Errorf("EHLO before the greeting:\n%s", dump(s))
	}
	// EHLO refused, HELO instead: no extensions.
	s = run(Options{}, S("220 x\r\n"), C("EHLO a\r\n"), S("502 5.5.2 no\r\n"), C("HELO a\r\n"), S("250 x\r\n"))
	if s.Extensions != nil || s.Hello != "a" {
		t.Errorf("extensions %q hello %q", s.Extensions, s.Hello)
	}
}

func TestSessionOddReplies(t *testing.T) {
	s := run(Options{}, S("220 x\r\n"), C("NOOP\r\n"), S("250-a\r\n251 b\r\n"), S("421 4.4.2 timeout\r\n"), S("what\r\n"))
	wantAnomalies(t, s, "reply-code-mismatch", "unmatched-reply", "malformed-reply")
	s = run(Options{}, with(envelope, steps(C("part\r\n"), S("421 4.4.2 timeout\r\n"), SFIN))...)
	wantEnd(t, wantOutcome(t, s, 0, OutcomeAborted), EndServerClosed, 12)
	wantAnomalies(t, s, "reply-during-body")
}

func TestSessionLMTP(t *testing.T) {
	s := run(Options{},
		S("220 lmtp ready\r\n"), C("LHLO x\r\n"), S("250-lmtp\r\n250 PIPELINING\r\n"),
		C("MAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<c@x>\r\nRCPT TO:<d@x>\r\nDATA\r\n"),
		S("250 ok\r\n250 ok\r\n550 5.1.1 no such user\r\n250 ok\r\n354 go\r\n"),
		C("hi\r\n.\r\n"),
		S("250 2.1.5 b delivered\r\n452 4.2.2 d over quota\r\n"),
	)
	x := wantOutcome(t, s, 0, OutcomeDeferred)
	if r := x.Rcpts[0].DataReply; r == nil || r.Code != 250 {
		t.Errorf("b: %+v", r)
	}
	if x.Rcpts[1].DataReply != nil {
		t.Errorf("c (refused) has a data reply")
	}
	if r := x.Rcpts[2].DataReply; r == nil || r.Code != 452 {
		t.Errorf("d: %+v", r)
	}
	wantAnomalies(t, s)
}

func TestSessionXEXCH50(t *testing.T) {
	s := run(Options{}, with(steps(
		C("XEXCH50 10 2\r\n"), S("354 Send binary data\r\n"),
		C("0123\r\n6789"), S("250 OK\r\n"), // 6, 7: the blob has its own reply
		C("MAIL FROM:<a@x>\r\n"), S("250 ok\r\n"),
	))...)
	wantVerbs(t, s, "EHLO", "XEXCH50", "MAIL")
	wantAnomalies(t, s)
	if r := s.Commands[1].Reply; r == nil || r.Code != 250 || r.Frame != 7 {
		t.Errorf("XEXCH50 reply %+v, want the 250 after the blob", r)
	}
}

func TestSessionLimits(t *testing.T) {
	t.Run("line too long", func(t *testing.T) {
		d := NewDecoder(Options{})
		feed(d, steps(S("220 x\r\n"), C("EHLO ")))
		for i := 0; i < 1000; i++ {
			d.Data(reassembly.ClientToServer, []byte(strings.Repeat("A", 1000)), reassembly.ConstMarker(markOf(3)))
			if n := len(d.client.line.buf); n > DefaultMaxLineLength {
				t.Fatalf("line buffer %d bytes, over %d", n, DefaultMaxLineLength)
			}
		}
		d.Data(reassembly.ClientToServer, []byte("\r\n"), reassembly.ConstMarker(markOf(4)))
		d.Data(reassembly.ServerToClient, []byte("500 5.5.2 line too long\r\n"), reassembly.ConstMarker(markOf(5)))
		d.End(markOf(6))
		s := d.Session()
		wantAnomalies(t, s, "line-too-long")
		if c := s.Commands[0]; c.Verb != "EHLO" || len(c.Arg) != DefaultMaxLineLength-5 || c.Reply == nil || c.Reply.Code != 500 {
			t.Errorf("command %q %d %+v", c.Verb, len(c.Arg), c.Reply)
		}
	})
	t.Run("pending commands", func(t *testing.T) {
		s := run(Options{MaxPendingCommands: 4}, S("220 x\r\n"), C(strings.Repeat("NOOP\r\n", 10)), S(strings.Repeat("250 ok\r\n", 10)))
		for i, c := range s.Commands {
			if (c.Reply != nil) != (i < 4) {
				t.Errorf("command %d reply %+v", i, c.Reply)
			}
		}
		// The replies past the limit answer the commands past it, in
		// order: none is unmatched (#14).
		if !hasAnomaly(s, "excessive-pending-commands") || hasAnomaly(s, "unmatched-reply") {
			t.Errorf("anomalies %q", anomalyNames(s))
		}
	})
	t.Run("anomalies", func(t *testing.T) {
		s := run(Options{MaxAnomalies: 5}, S("220 x\r\n"+strings.Repeat("junk\r\n", 50)+strings.Repeat("250 x\r\n", 50)))
		if len(s.Anomalies) != 5 || s.AnomaliesDropped != 95 {
			t.Errorf("%d anomalies, %d dropped", len(s.Anomalies), s.AnomaliesDropped)
		}
	})
	t.Run("commands, transactions, recipients", func(t *testing.T) {
		s := run(Options{MaxCommands: 3, MaxTransactions: 1, MaxRecipients: 2},
			S("220 x\r\n"), C("MAIL FROM:<a@x>\r\nRCPT TO:<1@x>\r\nRCPT TO:<2@x>\r\nRCPT TO:<3@x>\r\nRSET\r\nMAIL FROM:<b@x>\r\n"))
		if len(s.Commands) != 3 || len(s.Transactions) != 1 || len(s.Transactions[0].Rcpts) != 2 {
			t.Errorf("%d commands, %d transactions:\n%s", len(s.Commands), len(s.Transactions), dump(s))
		}
		wantAnomalies(t, s, "too-many-commands", "too-many-recipients", "too-many-transactions")
	})
	t.Run("endless continuation", func(t *testing.T) {
		s := run(Options{MaxReplyLines: 10}, S("220-x\r\n"+strings.Repeat("220-more\r\n", 100)+"220 end\r\n"))
		if s.Banner == nil || s.Banner.Lines != 102 {
			t.Errorf("banner %+v", s.Banner)
		}
		wantAnomalies(t, s, "reply-too-many-lines")
	})
	t.Run("huge BDAT chunk", func(t *testing.T) {
		s := run(Options{MaxChunkSize: 10}, with(steps(C("MAIL FROM:<a@x>\r\nBDAT 11 LAST\r\n01234567890"), S("250 ok\r\n250 ok\r\n")))...)
		wantAnomalies(t, s, "huge-bdat-chunk")
		wantOutcome(t, s, 0, OutcomeDelivered)
	})
}

// TestDecoderSplitInvariance feeds a whole conversation in every split of
// its client bytes into two Data calls: the decoding must not depend on
// segment boundaries.
func TestDecoderSplitInvariance(t *testing.T) {
	client := "EHLO x\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nBDAT 5\r\nabcdeBDAT 3 LAST\r\nfghDATA\r\n"
	server := "220 x\r\n250 x\r\n250 ok\r\n250 ok\r\n250 5 octets\r\n250 queued\r\n503 no\r\n"
	var want []string
	for i := 0; i <= len(client); i++ {
		d := NewDecoder(Options{})
		m := reassembly.ConstMarker(markOf(1))
		d.Data(reassembly.ServerToClient, []byte(server[:7]), m)
		d.Data(reassembly.ClientToServer, []byte(client[:i]), m)
		d.Data(reassembly.ClientToServer, []byte(client[i:]), m)
		d.Data(reassembly.ServerToClient, []byte(server[7:]), m)
		d.End(markOf(2))
		s := d.Session()
		var got []string
		for _, c := range s.Commands {
			code := 0
			if c.Reply != nil {
				code = c.Reply.Code
			}
			got = append(got, c.Verb+" "+c.Arg+" "+string(rune('0'+code/100)))
		}
		if want == nil {
			want = got
			if len(want) != 6 {
				t.Fatalf("commands %q", want)
			}
		}
		if !reflect.DeepEqual(got, want) || len(s.Transactions) != 1 || s.Transactions[0].Size != 8 || s.Transactions[0].Outcome != OutcomeDelivered {
			t.Fatalf("split at %d: %q, want %q:\n%s", i, got, want, dump(s))
		}
	}
}
