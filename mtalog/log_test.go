package mtalog

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

var ref = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

func read(t *testing.T, name string, opts Options) *Log {
	t.Helper()
	if opts.Reference.IsZero() {
		opts.Reference = ref
	}
	l, err := ReadFile(name, opts)
	if err != nil {
		t.Fatalf("ReadFile(%s) = %v", name, err)
	}
	return l
}

func TestExchangeSeed(t *testing.T) {
	for _, name := range []string{"testdata/exchange-seed.log", "testdata/exchange-seed.log.gz"} {
		l := read(t, name, Options{})
		if l.Format != FormatExchangeSend || len(l.Warnings) != 0 || len(l.Sessions) != 2 {
			t.Fatalf("%s: format %s, %d sessions, warnings %q", name, l.Format, len(l.Sessions), l.Warnings)
		}
		s := l.Sessions[0]
		if s.ID != "08CB3FF87FA34699" || s.Role != RoleClient || s.Local.Host != "exchsvr" || s.Local.Port != 20709 ||
			s.Remote.Host != "relayhost" || s.Remote.Port != 25 {
			t.Errorf("%s: session %+v", name, s)
		}
		want := []struct {
			kind  EventKind
			code  int
			stage Stage
		}{{EventCommand, 0, ""}, {EventReply, 250, StageRcpt}, {EventReply, 354, StageData}}
		if len(s.Events) != len(want) {
			t.Fatalf("%s: %d events, want %d", name, len(s.Events), len(want))
		}
		for i, w := range want {
			e := s.Events[i]
			code := 0
			if e.Reply != nil {
				code = e.Reply.Code
			}
			if e.Kind != w.kind || code != w.code || e.Stage != w.stage || (e.Kind == EventReply) != e.Remote {
				t.Errorf("%s: event %d = %s %d %s remote %v, want %v", name, i, e.Kind, code, e.Stage, e.Remote, w)
			}
		}
		if got := s.Events[2].Reply.Text; got != `Enter mail, end with "."  on a line by itself.` {
			t.Errorf("%s: 354 text %q", name, got)
		}
		if s.Events[2].Line.Number != 8 || !s.End.Equal(time.Date(2009, 1, 8, 22, 36, 19, 589e6, time.UTC)) {
			t.Errorf("%s: line %d, end %v", name, s.Events[2].Line.Number, s.End)
		}
		if l.Compression == "" && strings.HasSuffix(name, ".gz") {
			t.Errorf("%s: compression not reported", name)
		}
	}
}

func TestExchangeBrokenLines(t *testing.T) {
	l := read(t, "testdata/exchange-broken.log", Options{})
	if l.Format != FormatExchangeReceive {
		t.Fatalf("format %s", l.Format)
	}
	if len(l.Warnings) != 2 || !strings.Contains(l.Warnings[0], "exchange-broken.log:6: broken CSV record") ||
		!strings.Contains(l.Warnings[1], ":7: bad date-time") {
		t.Errorf("warnings %q", l.Warnings)
	}
	if len(l.Sessions) != 1 {
		t.Fatalf("%d sessions", len(l.Sessions))
	}
	s := l.Sessions[0]
	if s.Role != RoleServer || s.Local.String() != "10.0.0.5:25" || s.Remote.String() != "10.0.0.9:51000" {
		t.Errorf("endpoints %v %v role %s", s.Local, s.Remote, s.Role)
	}
	var kinds []string
	for _, e := range s.Events {
		kinds = append(kinds, string(e.Kind))
	}
	if got := strings.Join(kinds, " "); got != "connect reply command reply disconnect" {
		t.Errorf("events %s", got)
	}
	if e := s.Events[3]; e.Reply == nil || e.Reply.Enhanced != "2.1.0" || e.Remote || e.Stage != StageMail {
		t.Errorf("250 event %+v", e)
	}
}

func TestPostfixMaillog(t *testing.T) {
	for _, name := range []string{"testdata/postfix-relay-stall.maillog", "testdata/postfix-relay-stall.maillog.zst"} {
		l := read(t, name, Options{})
		if l.Format != FormatPostfix || len(l.Warnings) != 0 || l.Lines != 17 {
			t.Fatalf("%s: format %s, %d lines, warnings %q", name, l.Format, l.Lines, l.Warnings)
		}
		if len(l.Sessions) != 4 {
			t.Fatalf("%s: %d sessions, want 4", name, len(l.Sessions))
		}
		probe, in, sent, stalled := l.Sessions[0], l.Sessions[1], l.Sessions[2], l.Sessions[3]
		if probe.Role != RoleServer || probe.Events[1].Stage != StageConnect {
			t.Errorf("%s: probe session %+v", name, probe)
		}
		if in.Role != RoleServer || in.Remote.String() != "127.0.0.1:40001" || len(in.QueueIDs) != 2 || len(in.MessageIDs) != 2 {
			t.Errorf("%s: smtpd session %+v", name, in)
		}
		if sent.Role != RoleClient || sent.Remote.String() != "127.0.0.2:25" || sent.Remote.Host != "127.0.0.2" {
			t.Errorf("%s: smtp session %+v", name, sent)
		}
		e := stalled.Events[len(stalled.Events)-1]
		if e.Kind != EventDelivery || e.Status != "deferred" || e.Stage != StageEndOfData || e.Reply != nil {
			t.Errorf("%s: deferred event %+v", name, e)
		}
		// delays=…/0/10: the connection started 10 s before the line.
		if d := stalled.End.Sub(stalled.Start); d != 10*time.Second {
			t.Errorf("%s: session lasts %v, want 10s", name, d)
		}
		if stalled.Start.Year() != 2026 || stalled.Start.Location() != time.UTC {
			t.Errorf("%s: start %v", name, stalled.Start)
		}
	}
}

func TestPostfixSyslog(t *testing.T) {
	l := read(t, "testdata/postfix-syslog.log", Options{})
	if l.Format != FormatPostfix || len(l.Warnings) != 0 {
		t.Fatalf("format %s warnings %q", l.Format, l.Warnings)
	}
	if len(l.Sessions) != 4 {
		for _, s := range l.Sessions {
			t.Logf("%s %s %v", s.Role, s.ID, s.Remote)
		}
		t.Fatalf("%d sessions, want 4 (smtpd, smtp with conn_use=2, smtp anew, refused connect)", len(l.Sessions))
	}
	in, out, out2, refused := l.Sessions[0], l.Sessions[1], l.Sessions[2], l.Sessions[3]
	if in.Remote.String() != "192.0.2.10:40001" || in.Remote.Host != "client.example.test" ||
		in.QueueIDs[0] != "4QxY1z2abcz" || in.MessageIDs[0] != "<m1@client.example.test>" {
		t.Errorf("smtpd session %+v", in)
	}
	rej := in.Events[2]
	if rej.Kind != EventReply || rej.Reply.Code != 550 || rej.Reply.Enhanced != "5.1.1" || rej.Stage != StageRcpt ||
		strings.Contains(rej.Reply.Text, "from=") {
		t.Errorf("reject event %+v %+v", rej, rej.Reply)
	}
	if got := in.Start; !got.Equal(time.Date(2026, 12, 1, 21, 28, 9, 201311000, time.UTC)) {
		t.Errorf("start %v (the +01:00 offset must be kept)", got)
	}
	if len(out.Events) != 2 || out.QueuedAs[0] != "9F8E7D6C5B" {
		t.Errorf("smtp session with reuse: %d events, queued as %v", len(out.Events), out.QueuedAs)
	}
	d := out.Events[0]
	if d.Status != "deferred" || d.Reply == nil || d.Reply.Code != 452 || d.Reply.Enhanced != "4.3.1" || d.Stage != StageEndOfData ||
		d.Reply.Text != "Insufficient system storage" || !d.Remote {
		t.Errorf("452 delivery %+v %+v", d, d.Reply)
	}
	if e := out2.Events[0]; e.Stage != StageBody || e.Reply != nil {
		t.Errorf("lost connection %+v", e)
	}
	if refused.Remote.String() != "198.51.100.8:25" || len(refused.Events) != 2 || refused.Events[1].Stage != StageConnect {
		t.Errorf("refused %+v", refused)
	}
}

func TestSyslogYear(t *testing.T) {
	tests := []struct {
		line string
		ref  time.Time
		want time.Time
	}{
		{"Dec 31 23:59:59 h postfix/smtp[1]: x", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Jan  1 00:00:01 h postfix/smtp[1]: x", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 1, 0, time.UTC)},
		{"Dec 01 22:28:09.5 h postfix/smtp[1]: x", time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 22, 28, 9, 5e8, time.UTC)},
	}
	for _, tt := range tests {
		got, _, rest, ok := parseSyslogPrefix(tt.line, time.UTC, tt.ref)
		if !ok || !got.Equal(tt.want) || rest != "postfix/smtp[1]: x" {
			t.Errorf("parseSyslogPrefix(%q) = %v %q %v, want %v", tt.line, got, rest, ok, tt.want)
		}
	}
	berlin := time.FixedZone("CET", 3600)
	got, _, _, _ := parseSyslogPrefix("Dec  1 22:28:09 h postfix/smtp[1]: x", berlin, ref)
	if !got.Equal(time.Date(2026, 12, 1, 21, 28, 9, 0, time.UTC)) {
		t.Errorf("in CET: %v", got)
	}
}

func TestBadInput(t *testing.T) {
	tests := []struct {
		name, file string
		want       error
	}{
		{"unknown", "testdata/unknown.txt", ErrUnknownFormat},
		{"binary", "testdata/binary.bin", ErrUnknownFormat},
	}
	for _, tt := range tests {
		_, err := ReadFile(tt.file, Options{})
		if !errors.Is(err, tt.want) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), tt.file) {
			t.Errorf("%s: err = %v, want one line naming the file, wrapping %v", tt.name, err, tt.want)
		}
	}
	if _, err := Read("empty", strings.NewReader("\n\n"), Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	// A truncated gzip file: what was read is kept, the cut is a warning.
	data, _ := os.ReadFile("testdata/exchange-seed.log.gz")
	l, err := Read("cut.gz", strings.NewReader(string(data[:len(data)-12])), Options{})
	if err != nil || len(l.Warnings) == 0 || !strings.Contains(l.Warnings[len(l.Warnings)-1], "reading stopped") {
		t.Errorf("cut gzip: %v, %+v", err, l)
	}
}

func TestLongLine(t *testing.T) {
	in := "Dec  1 22:28:09 h postfix/smtpd[1]: connect from a[192.0.2.1]:5\n" +
		"Dec  1 22:28:09 h postfix/smtpd[1]: " + strings.Repeat("x", MaxLineLength+10) + "\n"
	l, err := Read("long", strings.NewReader(in), Options{Reference: ref})
	if err != nil || len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "long:2: line longer") || len(l.Sessions) != 1 {
		t.Errorf("long line: %v %q", err, l.Warnings)
	}
}

// TestExim reads an Exim main log: lines in the documented layout, and
// the last two as Exim's own test suite has them (test/log/0498).
func TestExim(t *testing.T) {
	l := read(t, "testdata/exim-mainlog.log", Options{})
	if l.Format != FormatExim || len(l.Warnings) != 0 {
		t.Fatalf("format %s, warnings %q", l.Format, l.Warnings)
	}
	if len(l.Sessions) != 6 {
		for _, s := range l.Sessions {
			t.Logf("%s %s %v %d events", s.Role, s.ID, s.Remote, len(s.Events))
		}
		t.Fatalf("%d sessions, want 6", len(l.Sessions))
	}
	in, out, timeout, bounce, mail450, old := l.Sessions[0], l.Sessions[1], l.Sessions[2], l.Sessions[3], l.Sessions[4], l.Sessions[5]
	if in.Role != RoleServer || in.Remote.String() != "192.0.2.10:40001" || in.MessageIDs[0] != "<m1@client.example.test>" {
		t.Errorf("arrival %+v", in)
	}
	if out.Role != RoleClient || len(out.Events) != 2 || out.QueuedAs[0] != "4QxY1z" || out.MessageIDs[0] != "<m1@client.example.test>" ||
		out.Events[0].Reply.Code != 250 || out.Events[0].Status != "sent" {
		t.Errorf("delivery %+v", out)
	}
	if e := timeout.Events[0]; e.Kind != EventLocal || e.Stage != StageEndOfData || e.Status != "deferred" ||
		timeout.Remote.String() != "198.51.100.7:25" || timeout.Start.Nanosecond() != 345e6 {
		t.Errorf("timeout %+v %v", e, timeout.Remote)
	}
	if e := bounce.Events[0]; e.Reply == nil || e.Reply.Code != 552 || e.Reply.Enhanced != "5.3.4" || e.Stage != StageEndOfData ||
		e.Status != "bounced" || !bounce.Start.Equal(time.Date(2026, 12, 1, 21, 41, 0, 0, time.UTC)) {
		t.Errorf("bounce %+v %v", e, bounce.Start)
	}
	if e := mail450.Events[0]; e.Reply == nil || e.Reply.Code != 450 || e.Stage != StageMail || mail450.Remote.Addr.String() != "127.0.0.1" {
		t.Errorf("450 %+v", e)
	}
	if e := old.Events[0]; e.Kind != EventLocal || e.Stage != StageEndOfData || old.Remote.Addr.String() != "127.0.0.1" {
		t.Errorf("timeout while connected %+v %v", e, old.Remote)
	}
}

// TestLineMessage: each format's lines say what they say without the
// time stamp and host (Message), and syslog lines name their host even
// when it has no dot (redaction hides it).
func TestLineMessage(t *testing.T) {
	tests := []struct {
		file    string
		session int
		line    int // index in the session's lines
		message string
		host    string
	}{
		{"testdata/exchange-seed.log", 0, 0, "> RCPT TO:<>", ""},
		{"testdata/exchange-seed.log", 0, 2, `< 354 Enter mail, end with "."  on a line by itself.`, ""},
		{"testdata/exchange-seed.log", 1, 0, "* attempting to connect", ""},
		{"testdata/postfix-syslog.log", 0, 0, "postfix/smtpd[2432]: connect from client.example.test[192.0.2.10]:40001", "mta"},
		{"testdata/postfix-relay-stall.maillog", 3, 0, "postfix/smtp[27263]: DED5698645E: to=<rcpt@relay.lab.test>, relay=127.0.0.2[127.0.0.2]:25, delay=10, delays=0.07/0/0/10, dsn=4.4.2, status=deferred (conversation with 127.0.0.2[127.0.0.2] timed out while sending end of data -- message may be sent more than once)", "mta"},
		{"testdata/exim-mainlog.log", 0, 0, "SMTP connection from [192.0.2.10]:40001 (TCP/IP connection count = 1)", ""},
		{"testdata/exim-mainlog.log", 0, 1, "1tXyZa-000123-AB <= sender@client.example.test H=client.example.test (client.example.test) [192.0.2.10]:40001 P=esmtp S=2225 id=m1@client.example.test", ""},
	}
	for _, tt := range tests {
		l := read(t, tt.file, Options{})
		if tt.session >= len(l.Sessions) || tt.line >= len(l.Sessions[tt.session].Lines()) {
			t.Errorf("%s: no line %d in session %d", tt.file, tt.line, tt.session)
			continue
		}
		got := l.Sessions[tt.session].Lines()[tt.line]
		if got.Message != tt.message || got.Host != tt.host {
			t.Errorf("%s session %d line %d: Message %q Host %q, want %q %q", tt.file, tt.session, tt.line, got.Message, got.Host, tt.message, tt.host)
		}
	}
}

// TestRsyslogFiles reads what a real rsyslogd wrote for a real Postfix
// (testdata/scenarios/postfix/postfix-relay-stall-syslog.sh): the same
// messages in rsyslog's traditional file format ("Dec  2 01:33:09", day
// space-padded, whole seconds) and in RFC 3339 with microseconds, with
// lines of programs that are not Postfix daemons ("postfix[21000]:") in
// between.
func TestRsyslogFiles(t *testing.T) {
	dir := "../testdata/scenarios/postfix/"
	var starts [2][]time.Time
	for i, name := range []string{"postfix-relay-stall-syslog.mail.log", "postfix-relay-stall-syslog.mail-rfc3339.log"} {
		l := read(t, dir+name, Options{})
		if l.Format != FormatPostfix || len(l.Warnings) != 0 || len(l.Sessions) != 4 {
			t.Fatalf("%s: format %s, %d sessions, warnings %q; want postfix, 4 sessions, no warning", name, l.Format, len(l.Sessions), l.Warnings)
		}
		stalled := l.Sessions[3]
		if e := stalled.Events[len(stalled.Events)-1]; e.Status != "deferred" || e.Stage != StageEndOfData {
			t.Errorf("%s: last event %+v, want deferred at end-of-data", name, e)
		}
		for _, s := range l.Sessions {
			if ln := s.Lines(); len(ln) > 0 {
				starts[i] = append(starts[i], ln[0].Time)
			}
			if ln := s.Lines(); len(ln) == 0 || ln[0].Host != "mta" || !strings.HasPrefix(ln[0].Message, "postfix/") {
				t.Errorf("%s: session %s: first line %+v, want host mta and a postfix/ message", name, s.ID, ln)
			}
		}
	}
	// The same messages: the whole-second stamps are the RFC 3339 ones
	// cut to the second.
	if len(starts[0]) != len(starts[1]) {
		t.Fatalf("%d and %d sessions with lines", len(starts[0]), len(starts[1]))
	}
	for k := range starts[0] {
		if !starts[0][k].Equal(starts[1][k].Truncate(time.Second)) {
			t.Errorf("session %d's first line at %v (traditional) and %v (RFC 3339)", k, starts[0][k], starts[1][k])
		}
	}
}

// TestEximReal reads a main log written by a real Exim (Debian's 4.96,
// testdata/scenarios/exim/exim-relay-stall.sh, log_selector
// +incoming_port +outgoing_port +smtp_connection +millisec +deliver_time):
// the probe connection it lost, one incoming connection with two
// arrivals, a delivery and a deferral after its own end-of-data timeout.
func TestEximReal(t *testing.T) {
	l := read(t, "../testdata/scenarios/exim/exim-relay-stall.mainlog", Options{})
	if l.Format != FormatExim || len(l.Warnings) != 0 {
		t.Fatalf("format %s, warnings %q; want exim, none (a continuation line is not an error)", l.Format, l.Warnings)
	}
	if len(l.Sessions) != 4 {
		t.Fatalf("%d sessions, want 4: the probe, the incoming connection, two deliveries", len(l.Sessions))
	}
	probe, in, sent, stalled := l.Sessions[0], l.Sessions[1], l.Sessions[2], l.Sessions[3]
	if probe.Role != RoleServer || probe.Remote.Port == 0 || probe.Events[len(probe.Events)-1].Kind != EventLocal {
		t.Errorf("probe session %+v, want a server session ended by Exim's \"lost\"", probe)
	}
	if in.Role != RoleServer || in.Remote.String() != "127.0.0.1:40001" || len(in.QueueIDs) != 2 || len(in.MessageIDs) != 2 ||
		in.Events[0].Kind != EventConnect || in.Events[len(in.Events)-1].Kind != EventDisconnect {
		t.Errorf("incoming session %+v, want one connection from 127.0.0.1:40001 with both arrivals", in)
	}
	if sent.Role != RoleClient || sent.Remote.String() != "127.0.0.2:25" || sent.Events[0].Status != "sent" || len(sent.MessageIDs) != 1 {
		t.Errorf("delivery session %+v", sent)
	}
	e := stalled.Events[len(stalled.Events)-1]
	if stalled.Role != RoleClient || e.Status != "deferred" || e.Kind != EventLocal || e.Stage != StageEndOfData {
		t.Errorf("deferral %+v, want Exim's own end-of-data timeout", e)
	}
}

// TestEximDeliverTime: with +deliver_time a delivery session starts DT
// before its line, which Exim writes when the delivery ends.
func TestEximDeliverTime(t *testing.T) {
	tests := []struct {
		line string
		want time.Duration // line time minus session start
	}{
		{`2026-12-02 02:16:48.260 1xYZtn-00046l-2w => r@x.test R=relay T=remote_smtp H=127.0.0.2 [127.0.0.2]:25 C="250 OK" DT=0.196s`, 196 * time.Millisecond},
		{`2026-12-02 02:16:58.657 1xYZtn-00046l-37 == r@x.test R=relay T=remote_smtp defer (110): Connection timed out H=127.0.0.2 [127.0.0.2]:25 DT=10s: SMTP timeout after end of data (1230355 bytes written)`, 10 * time.Second},
		{`2026-12-02 02:16:48.260 1xYZtn-00046l-2w => r@x.test R=relay T=remote_smtp H=127.0.0.2 [127.0.0.2]:25 C="250 OK"`, 0},
		{`2026-12-02 02:16:48.260 1xYZtn-00046l-2w => r@x.test R=relay T=remote_smtp H=127.0.0.2 [127.0.0.2]:25 DT=-5s`, 0},
	}
	for _, tt := range tests {
		l, err := Read("mainlog", strings.NewReader(tt.line+"\n"), Options{Reference: ref})
		if err != nil || len(l.Sessions) != 1 {
			t.Fatalf("%q: %v, %d sessions", tt.line, err, len(l.Sessions))
		}
		s := l.Sessions[0]
		if got := s.End.Sub(s.Start); got != tt.want {
			t.Errorf("%q: session spans %v, want %v", tt.line, got, tt.want)
		}
	}
}

// TestEximContinuation: an entry Exim writes on several lines (this one
// from a real Exim 4.96 started without a TLS certificate) continues on
// lines that begin with a space; they are not errors.
func TestEximContinuation(t *testing.T) {
	log := "2026-12-02 01:50:49.715 Warning: No server certificate defined; will use a selfsigned one.\n" +
		" Suggested action: either install a certificate or change tls_advertise_hosts option\n" +
		"2026-12-02 01:50:54.402 1xYZUk-0002FN-1F <= a@b.test H=(c.test) [127.0.0.1]:40001 P=esmtp S=2224 id=m1@c.test\n"
	l, err := Read("mainlog", strings.NewReader(log), Options{Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	if l.Format != FormatExim || len(l.Warnings) != 0 || len(l.Sessions) != 1 {
		t.Errorf("format %s, warnings %q, %d sessions; want exim, none, 1", l.Format, l.Warnings, len(l.Sessions))
	}
}
