package report

import (
	"strings"
	"testing"
)

// TestRedactText: addresses and names in a server's text get the tokens
// their fields get; codes, numbers and the other words stay.
func TestRedactText(t *testing.T) {
	r := newRedactor(true)
	helo := r.host("GP")
	valid := []struct{ in, want string }{
		{"mx.example.com ESMTP Exim 4.69", r.host("mx.example.com") + " ESMTP Exim 4.69"},
		{"mx.example.com Hello GP [192.0.2.1]", r.host("mx.example.com") + " Hello " + helo + " [" + r.addr("192.0.2.1") + "]"},
		{"recipient <bob@example.org> ok", "recipient <" + r.mail("bob@example.org") + "> ok"},
		{"2.0.0 Ok: queued as 3F2A1", "2.0.0 Ok: queued as 3F2A1"},
		{"relay.example.net:25 refused.", r.host("relay.example.net") + ":25 refused."},
		// Local parts a word split would cut (#14): quoted, with spaces,
		// an escaped quote or an "@"; a dot-atom with an apostrophe.
		{`2.1.0 <"john doe"@corp.example>... Sender ok`, `2.1.0 <` + r.mail(`"john doe"@corp.example`) + `>... Sender ok`},
		{`"a\"b c"@corp.example and "x@y"@corp.example`, r.mail(`"a\"b c"@corp.example`) + ` and ` + r.mail(`"x@y"@corp.example`)},
		{"to o'brien@corp.example.", "to " + r.mail("o'brien@corp.example") + "."},
		{`"not an address" and 3@4`, `"not an address" and 3@4`},
	}
	for _, tt := range valid {
		if got := r.text(tt.in, true); got != tt.want {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := r.text(r.text(tt.in, true), true); got != tt.want {
			t.Errorf("text(text(%q)) = %q, want %q (redacting twice must change nothing)", tt.in, got, tt.want)
		}
	}
	for _, leak := range []string{"john", "doe", "brien", "corp.example", `a\"b`} {
		for _, tt := range valid {
			if got := r.text(tt.in, true); strings.Contains(got, leak) {
				t.Errorf("text(%q) = %q still shows %q", tt.in, got, leak)
			}
		}
	}
	// Summaries name Wireshark fields; only names already seen go.
	if got, want := r.text("tcp.stream eq 0, mx.example.com said so", false), "tcp.stream eq 0, "+r.host("mx.example.com")+" said so"; got != want {
		t.Errorf("text(summary) = %q, want %q", got, want)
	}
	if got, want := r.addr("[2001:db8::1]:25"), r.addr("2001:db8::1")+":25"; got != want {
		t.Errorf("addr(IPv6 with port) = %q, want %q", got, want)
	}
	if got, want := r.processPath(`C:\Program Files\Exchange\Bin\EdgeTransport.exe`, "EdgeTransport.exe"), `dir-`; len(got) < len(want) || got[:4] != want || got[len(got)-18:] != `\EdgeTransport.exe` {
		t.Errorf("processPath = %q, want dir-<token>\\EdgeTransport.exe", got)
	}
}

// FuzzRedactText: the redactor reads servers' texts, which a capture
// carries as sent: on any text it neither panics nor changes its output
// when run again, and no address it finds is left in the output.
func FuzzRedactText(f *testing.F) {
	for _, s := range []string{
		`2.1.0 <"john doe"@corp.example>... Sender ok`, `"a\"b c"@corp.example and "x@y"@corp.example`,
		"to o'brien@corp.example.", `"not an address" and 3@4`, "mx.example.com Hello GP [192.0.2.1]",
		"relay.example.net:25 refused.", `"@".@"@a.b`, "@@@.", `"\"@x.y`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := newRedactor(true)
		once := r.text(s, true)
		if twice := r.text(once, true); twice != once {
			t.Fatalf("text(%q) = %q, and again %q", s, once, twice)
		}
		for _, sp := range mailSpans(s) {
			if addr := s[sp[0]:sp[1]]; strings.Contains(once, addr) {
				t.Fatalf("text(%q) = %q still holds %q", s, once, addr)
			}
		}
	})
}
