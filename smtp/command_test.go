package smtp

import "testing"

func TestParseCommand(t *testing.T) {
	valid := []struct {
		in   string
		verb verb
		name string
		arg  string
		path string
		size int64
		body string
		last bool
	}{
		{"EHLO client.example.com", verbEHLO, "EHLO", "client.example.com", "", -1, "", false},
		{"ehlo [192.0.2.1]", verbEHLO, "EHLO", "[192.0.2.1]", "", -1, "", false},
		{"HELO x", verbHELO, "HELO", "x", "", -1, "", false},
		{"LHLO lmtp.example", verbLHLO, "LHLO", "lmtp.example", "", -1, "", false},
		{"MAIL FROM:<a@example.com>", verbMAIL, "MAIL", "FROM:<a@example.com>", "a@example.com", -1, "", false},
		{"MAIL FROM:<a@example.com> SIZE=12345 BODY=8bitmime", verbMAIL, "MAIL", "FROM:<a@example.com> SIZE=12345 BODY=8bitmime", "a@example.com", 12345, "8BITMIME", false},
		{"mail from: <b@example.com>", verbMAIL, "MAIL", "from: <b@example.com>", "b@example.com", -1, "", false},
		{"MAIL FROM:<>", verbMAIL, "MAIL", "FROM:<>", "<>", -1, "", false},
		{"MAIL FROM:c@example.com SIZE=7", verbMAIL, "MAIL", "FROM:c@example.com SIZE=7", "c@example.com", 7, "", false},
		{"MAIL FROM:<a@b> SIZE=99999999999999999999", verbMAIL, "MAIL", "FROM:<a@b> SIZE=99999999999999999999", "a@b", -1, "", false},
		{"RCPT TO:<r@example.com> NOTIFY=NEVER", verbRCPT, "RCPT", "TO:<r@example.com> NOTIFY=NEVER", "r@example.com", -1, "", false},
		{"rcpt to: <r@example.com>", verbRCPT, "RCPT", "to: <r@example.com>", "r@example.com", -1, "", false},
		{"DATA", verbDATA, "DATA", "", "", -1, "", false},
		{"data ", verbDATA, "DATA", "", "", -1, "", false},
		{"BDAT 86 LAST", verbBDAT, "BDAT", "86 LAST", "", 86, "", true},
		{"BDAT 1000", verbBDAT, "BDAT", "1000", "", 1000, "", false},
		{"bdat 0 last", verbBDAT, "BDAT", "0 last", "", 0, "", true},
		{"RSET", verbRSET, "RSET", "", "", -1, "", false},
		{"NOOP", verbNOOP, "NOOP", "", "", -1, "", false},
		{"NOOP keepalive", verbNOOP, "NOOP", "keepalive", "", -1, "", false},
		{"VRFY postmaster", verbVRFY, "VRFY", "postmaster", "", -1, "", false},
		{"EXPN staff", verbEXPN, "EXPN", "staff", "", -1, "", false},
		{"HELP", verbHELP, "HELP", "", "", -1, "", false},
		{"QUIT", verbQUIT, "QUIT", "", "", -1, "", false},
		{"STARTTLS", verbSTARTTLS, "STARTTLS", "", "", -1, "", false},
		{"AUTH LOGIN", verbAUTH, "AUTH", "LOGIN", "", -1, "", false},
		{"auth plain", verbAUTH, "AUTH", "PLAIN", "", -1, "", false},
		{"AUTH PLAIN AHVzZXIAc2VjcmV0", verbAUTH, "AUTH", "PLAIN", "", -1, "", false},
		{"AUTH CRAM-MD5", verbAUTH, "AUTH", "CRAM-MD5", "", -1, "", false},
		{"X-EXPS GSSAPI", verbAUTH, "X-EXPS", "GSSAPI", "", -1, "", false},
		{"XEXCH50 1048 2", verbXEXCH50, "XEXCH50", "1048 2", "", 1048, "", false},
		{"ETRN example.com", verbOther, "ETRN", "example.com", "", -1, "", false},
	}
	for _, tc := range valid {
		c := parseCommand([]byte(tc.in))
		if !c.valid || c.verb != tc.verb || c.name != tc.name || c.arg != tc.arg || c.path != tc.path || c.size != tc.size || c.body != tc.body || c.last != tc.last {
			t.Errorf("parseCommand(%q) = %+v, want verb %d %q arg %q path %q size %d body %q last %v, valid", tc.in, c, tc.verb, tc.name, tc.arg, tc.path, tc.size, tc.body, tc.last)
		}
	}
	invalid := []struct {
		in   string
		verb verb
		name string
		arg  string
	}{
		{"BDAT", verbBDAT, "BDAT", ""},
		{"BDAT 1234 SCRAMBLE", verbBDAT, "BDAT", "1234 SCRAMBLE"},
		{"BDAT SCRAMBLE", verbBDAT, "BDAT", "SCRAMBLE"},
		{"BDAT 5 X", verbBDAT, "BDAT", "5 X"},
		{"BDAT -1", verbBDAT, "BDAT", "-1"},
		{"BDAT 9999999999999999999", verbBDAT, "BDAT", "9999999999999999999"},
		{"MAIL TO:<x>", verbMAIL, "MAIL", "TO:<x>"},
		{"MAIL FROM:<unterminated", verbMAIL, "MAIL", "FROM:<unterminated"},
		{"RCPT <x>", verbRCPT, "RCPT", "<x>"},
		{"ehlo", verbEHLO, "EHLO", ""},
		{"DATA now", verbDATA, "DATA", "now"},
		{"AUTH", verbAUTH, "AUTH", ""},
		// The word after AUTH must look like a mechanism, or it is dropped.
		{"AUTH dGVzdAB0ZXN0AHRlc3Q=", verbAUTH, "AUTH", ""},
		{"", verbUnknown, "", ""},
		// An unknown word is never shown: it may be a body's (#14).
		{"GET / HTTP/1.1", verbUnknown, unknownVerb, ""},
		{"USER anonymous", verbUnknown, unknownVerb, ""},
		{"confidential merger plans", verbUnknown, unknownVerb, ""},
		{"PAYROLL", verbUnknown, unknownVerb, ""},
		{".", verbUnknown, unknownVerb, ""},
		{"Hello, Alice (2)", verbUnknown, unknownVerb, ""},
		{"Z3VycGFydGFwQHBhdHJpb3RzLmlu", verbUnknown, unknownVerb, ""},
		{"cHVuamFiQDEyMw==", verbUnknown, unknownVerb, ""},
		{"g\t\xe4Y\xe9XH", verbUnknown, unknownVerb, ""},
		{"OBLAHOBLAHOBLAHOBLAH", verbUnknown, unknownVerb, ""},
	}
	for _, tc := range invalid {
		c := parseCommand([]byte(tc.in))
		if c.valid || c.verb != tc.verb || c.name != tc.name || c.arg != tc.arg {
			t.Errorf("parseCommand(%q) = %+v, want verb %d %q arg %q, invalid", tc.in, c, tc.verb, tc.name, tc.arg)
		}
	}
}

func TestLooksLikeCommand(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"MAIL FROM:<a@example.com>", true},
		{"RCPT TO:<a@example.com>", true},
		{"EHLO x", true},
		{"QUIT", false}, // also valid base64: during AUTH a server reads it as a response
		{"dXNlcm5hbWU=", false},
		{"*", false},
		{"", false},
		{"foo bar", false},
	}
	for _, tc := range tests {
		if got := looksLikeCommand([]byte(tc.in)); got != tc.want {
			t.Errorf("looksLikeCommand(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestParseCutCommand(t *testing.T) {
	valid := []struct {
		in      string
		verb    verb
		path    string
		pathCut bool
		size    int64
		body    string
	}{
		{"MAIL FROM:<sender@client.lab.t", verbMAIL, "sender@client.lab.t", true, -1, ""},
		{"mail from: <a", verbMAIL, "a", true, -1, ""},
		{"MAIL FROM:", verbMAIL, "", true, -1, ""},
		{"MAIL FROM:<", verbMAIL, "", true, -1, ""},
		{"MAIL FROM:<>", verbMAIL, "<>", false, -1, ""},
		{"MAIL FROM:<a@b> SIZE=20", verbMAIL, "a@b", false, -1, ""},
		{"MAIL FROM:<a@b> SIZE=2048 BODY=8BIT", verbMAIL, "a@b", false, 2048, ""},
		{"MAIL FROM:<a@b> SIZE=2048 BODY=8BITMIME ", verbMAIL, "a@b", false, 2048, "8BITMIME"},
		{"MAIL FROM:a@exam", verbMAIL, "a@exam", true, -1, ""},
		{"MAIL FROM:a@example.com SIZE=1", verbMAIL, "a@example.com", false, -1, ""},
		{"RCPT TO:<rcpt@relay.lab", verbRCPT, "rcpt@relay.lab", true, -1, ""},
		{"RCPT TO:<b@x> NOTIFY=SUC", verbRCPT, "b@x", false, -1, ""},
		{"EHLO client.exa", verbEHLO, "", false, -1, ""},
		{"RSET", verbRSET, "", false, -1, ""},
		{"QUIT", verbQUIT, "", false, -1, ""},
		{"NOOP", verbNOOP, "", false, -1, ""},
		{"VRFY postm", verbVRFY, "", false, -1, ""},
		{"XCLIENT NAME=mail.exa", verbOther, "", false, -1, ""},
	}
	for _, tc := range valid {
		c, ok := parseCutCommand([]byte(tc.in))
		if !ok || !c.valid || !c.truncated || c.verb != tc.verb || c.path != tc.path || c.pathTruncated != tc.pathCut || c.size != tc.size || c.body != tc.body {
			t.Errorf("parseCutCommand(%q) = %+v, %v, want verb %d path %q cut %v size %d body %q", tc.in, c, ok, tc.verb, tc.path, tc.pathCut, tc.size, tc.body)
		}
	}
	// Verbs that change how the next bytes are read, lines whose verb is
	// not yet certain, and what is no command at all.
	invalid := []string{
		"", "MAI", "MAIL", "MAIL ", "MAIL FRO", "RCPT TO", "RCPT T:<b@x>",
		"DATA", "BDAT 10", "BDAT 100 LA", "AUTH PLAIN AHVzZXIAc2Vj", "AUTH LOG", "STARTTLS", "XEXCH50 10",
		"EHLO", "EHLO ", "VRFY", "Subject: MAIL FROM:<a", "dXNlcjpwYXNz",
	}
	for _, in := range invalid {
		if c, ok := parseCutCommand([]byte(in)); ok {
			t.Errorf("parseCutCommand(%q) = %+v, want no command", in, c)
		}
	}
}
