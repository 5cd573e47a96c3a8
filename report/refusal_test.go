package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/smtpscope/smtpscope/reassembly"
	"github.com/smtpscope/smtpscope/smtp"
)

// decodeDialogue runs an SMTP dialogue through the decoder: each line
// prefixed "C: " or "S: " is one segment of the client or the server,
// one frame and one millisecond apart; the client closes at the end.
func decodeDialogue(lines ...string) *smtp.Session {
	d := smtp.NewDecoder(smtp.Options{})
	frame := 0
	mark := func() reassembly.Mark {
		frame++
		return reassembly.Mark{Frame: frame, Time: t0.Add(time.Duration(frame) * time.Millisecond)}
	}
	for _, l := range lines {
		dir := reassembly.ClientToServer
		if strings.HasPrefix(l, "S: ") {
			dir = reassembly.ServerToClient
		}
		m := mark()
		d.Data(dir, []byte(strings.ReplaceAll(l[3:], "\n", "\r\n")), reassembly.ConstMarker(m))
	}
	m := mark()
	d.Control(reassembly.EventFIN, reassembly.ClientToServer, m)
	d.End(m)
	return d.Session()
}

// TestRefusalsAtReportLevel checks what the report makes of refused
// commands, through the decoder and every output format: the cause of a
// refused attempt is its first refusal (the 503s a client pipelined behind
// a refused MAIL are consequences, RFC 2920 §3.1), and a refusal that
// changed nothing (RFC 5321 §4.1.4) fails nothing (#20).
func TestRefusalsAtReportLevel(t *testing.T) {
	greet := []string{"S: 220 mx.example.net ESMTP\n", "C: EHLO client.example.com\n", "S: 250-mx.example.net\n250 PIPELINING\n"}
	tests := []struct {
		name      string
		dialogue  []string
		failed    bool
		cause     Cause
		delivered int
		withdrawn int
		// words must be in the diagnosis summary (the verdict's when the
		// connection is fine), unwords must not.
		words, unwords []string
		// consequences is how many evidence lines say "in consequence".
		consequences int
	}{
		{
			name: "MAIL refused 553, RCPT and DATA pipelined behind it refused 503",
			dialogue: []string{"C: MAIL FROM:<a@nowhere.invalid>\nRCPT TO:<b@example.net>\nDATA\n",
				"S: 553 5.1.8 Sender address rejected: Domain not found\n503 5.5.1 Error: need MAIL command\n503 5.5.1 Error: need RCPT command\n",
				"C: QUIT\n", "S: 221 2.0.0 Bye\n"},
			failed: true, cause: CauseRejected,
			words: []string{"553 5.1.8", "Domain not found"}, unwords: []string{"need MAIL", "need RCPT"}, consequences: 2,
		},
		{
			name: "duplicate MAIL refused 503 inside an accepted envelope",
			dialogue: []string{"C: MAIL FROM:<a@example.com>\n", "S: 250 OK\n", "C: MAIL FROM:<a@example.com>\n",
				"S: 503 sender already given\n", "C: RCPT TO:<b@example.net>\n", "S: 250 Accepted\n", "C: DATA\n",
				"S: 354 Enter message\n", "C: Subject: x\n\nhello\n.\n", "S: 250 OK id=1\n", "C: QUIT\n", "S: 221 bye\n"},
			cause: CauseOK, delivered: 1, unwords: []string{"503", "already given"},
		},
		{
			name: "duplicate MAIL refused 503, RCPT and DATA pipelined behind it",
			dialogue: []string{"C: MAIL FROM:<a@example.com>\n", "S: 250 OK\n",
				"C: MAIL FROM:<a@example.com>\nRCPT TO:<b@example.net>\nDATA\n", "S: 503 sender already given\n250 Accepted\n354 Enter message\n",
				"C: Subject: x\n\nhello\n.\nQUIT\n", "S: 250 OK id=1\n221 bye\n"},
			cause: CauseOK, delivered: 1, unwords: []string{"503", "already given"},
		},
		{
			name: "a sender-verification callout: MAIL, RCPT, QUIT, every reply 2xx",
			dialogue: []string{"C: MAIL FROM:<>\n", "S: 250 2.1.0 Ok\n", "C: RCPT TO:<b@example.net>\n", "S: 250 2.1.5 Ok\n",
				"C: QUIT\n", "S: 221 2.0.0 Bye\n"},
			cause: CauseOK, withdrawn: 1, words: []string{"withdrawn"},
		},
		{
			name:     "a pipelined callout: MAIL, RCPT and QUIT before the replies",
			dialogue: []string{"C: MAIL FROM:<>\nRCPT TO:<b@example.net>\nQUIT\n", "S: 250 2.1.0 Ok\n250 2.1.5 Ok\n221 2.0.0 Bye\n"},
			cause:    CauseOK, withdrawn: 1, words: []string{"withdrawn"},
		},
		{
			name: "a callout, then a message delivered",
			dialogue: []string{"C: MAIL FROM:<>\n", "S: 250 Ok\n", "C: RCPT TO:<b@example.net>\n", "S: 250 Ok\n", "C: RSET\n", "S: 250 Ok\n",
				"C: MAIL FROM:<a@example.com>\nRCPT TO:<b@example.net>\nDATA\n", "S: 250 Ok\n250 Ok\n354 go\n", "C: hello\n.\nQUIT\n", "S: 250 Ok\n221 Bye\n"},
			cause: CauseOK, delivered: 1, withdrawn: 1, words: []string{"1 of 1 mail transactions delivered", "withdrawn"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := decodeDialogue(append(append([]string(nil), greet...), tt.dialogue...)...)
			r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Session: s}}, Options{})
			d := r.Connections[0].Diagnosis
			if r.Failed() != tt.failed || d.Cause != tt.cause || r.Totals.Delivered != tt.delivered || r.Totals.Withdrawn != tt.withdrawn {
				t.Errorf("Failed() = %v, cause %s (%s), totals %+v; want %v, %s, %d delivered, %d withdrawn", r.Failed(), d.Cause, d.Summary,
					r.Totals, tt.failed, tt.cause, tt.delivered, tt.withdrawn)
			}
			if d.Cause == CauseOK {
				d = r.Verdict
			}
			if tt.failed != (r.Totals.Failed+r.Totals.RefusedAttempts > 0) {
				t.Errorf("totals %+v", r.Totals)
			}
			for _, w := range tt.words {
				if !strings.Contains(d.Summary, w) {
					t.Errorf("summary %q lacks %q", d.Summary, w)
				}
			}
			for _, w := range tt.unwords {
				if strings.Contains(d.Summary, w) {
					t.Errorf("summary %q blames %q", d.Summary, w)
				}
			}
			n := 0
			for _, e := range d.Evidence {
				if strings.HasPrefix(e.What, "in consequence") {
					n++
				}
			}
			if n != tt.consequences {
				t.Errorf("%d consequences in the evidence %+v, want %d", n, d.Evidence, tt.consequences)
			}
			if tt.failed {
				return
			}
			for format, out := range renderAll(t, r) {
				if strings.Contains(strings.ToLower(out), "rejected") {
					t.Errorf("%s report calls something rejected:\n%s", format, out)
				}
			}
		})
	}
}

// renderAll renders r in every format.
func renderAll(t *testing.T, r *Report) map[string]string {
	t.Helper()
	out := map[string]string{}
	var b bytes.Buffer
	if err := r.WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	out["text"] = b.String()
	b.Reset()
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	out["json"] = b.String()
	b.Reset()
	if err := r.WriteMarkdown(&b, ViewOptions{}); err != nil {
		t.Fatal(err)
	}
	out["markdown"] = b.String()
	b.Reset()
	if err := r.WriteHTML(&b, ViewOptions{}); err != nil {
		t.Fatal(err)
	}
	out["html"] = b.String()
	return out
}

// TestMessageCountsSayUnknown: a connection whose second transaction the
// capture cut before DATA (outcome unknown) is not "2 messages delivered"
// in any format (#14).
func TestMessageCountsSayUnknown(t *testing.T) {
	d := smtp.NewDecoder(smtp.Options{})
	frame := 0
	for _, l := range []string{"S: 220 x\n", "C: EHLO a\n", "S: 250 x\n",
		"C: MAIL FROM:<a@x.example>\nRCPT TO:<b@x.example>\nDATA\n", "S: 250 ok\n250 ok\n354 go\n", "C: hi\n.\n", "S: 250 ok\n",
		"C: MAIL FROM:<a@x.example>\nRCPT TO:<b@x.example>\n", "S: 250 ok\n250 ok\n"} {
		frame++
		dir := reassembly.ClientToServer
		if strings.HasPrefix(l, "S: ") {
			dir = reassembly.ServerToClient
		}
		d.Data(dir, []byte(strings.ReplaceAll(l[3:], "\n", "\r\n")), reassembly.ConstMarker{Frame: frame, Time: t0.Add(time.Duration(frame) * time.Millisecond)})
	}
	d.End(reassembly.Mark{Frame: frame, Time: t0.Add(time.Second)}) // the capture ends
	r := Build([]Input{{Name: "x.pcapng"}}, []Facts{{Conn: conn(), Session: d.Session()}}, Options{})
	if r.Totals.Delivered != 1 || r.Failed() {
		t.Fatalf("totals %+v, failed %v", r.Totals, r.Failed())
	}
	out := map[string]string{}
	var b bytes.Buffer
	if err := r.WriteText(&b, TextOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	out["text"] = b.String()
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"markdown", func(b *bytes.Buffer) error { return r.WriteMarkdown(b, ViewOptions{All: true}) }},
		{"html", func(b *bytes.Buffer) error { return r.WriteHTML(b, ViewOptions{All: true}) }},
		{"json", func(b *bytes.Buffer) error { return r.WriteJSON(b) }},
	} {
		b.Reset()
		if err := f.write(&b); err != nil {
			t.Fatal(err)
		}
		out[f.name] = b.String()
	}
	for format, s := range out {
		if strings.Contains(s, "2 messages delivered") || strings.Contains(s, "2 of 2 mail transactions delivered") {
			t.Errorf("%s report counts the unknown message as delivered:\n%s", format, s)
		}
	}
	if !strings.Contains(out["text"], "1 delivered, 1 of unknown outcome") || !strings.Contains(out["html"], "1 delivered, 1 of unknown outcome") {
		t.Errorf("text or HTML lacks the counts:\n%s", out["text"])
	}
}
