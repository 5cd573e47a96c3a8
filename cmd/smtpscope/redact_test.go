package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestRedact: with --redact no address, host name or directory from the
// capture appears in any format; without it each does, so the test would
// notice a capture that stopped carrying them.
func TestRedact(t *testing.T) {
	for _, tt := range []struct {
		capture string
		// everywhere are shown by every format, inJSON (which shows
		// every field) besides them; program must survive redaction.
		everywhere, inJSON []string
		program            string
	}{
		{capture: "testdata/captures/zeek__smtp.pcap",
			everywhere: []string{"10.10.1.4", "74.53.140.153", "192.168.133.100", "192.168.133.102"},
			inJSON:     []string{"gurpartap@patriots.in", "patriots.in", "GP", "xc90.websitewelcome.com", "122.162.143.157"}},
		{capture: "testdata/captures/suricata-verify__smtperr.pcap",
			everywhere: []string{"172.16.2.159", "219.94.162.217", "173.166.146.112", "help.yahoo.com"},
			inJSON:     []string{"jcastro2111@yahoo.com", "mta4265.mail.ne1.yahoo.com"}},
		{capture: "capture/testdata/netmon22-process.cap",
			inJSON:  []string{"192.0.2.10", "198.51.100.25", "Exchange Server"},
			program: "EdgeTransport.exe"},
	} {
		for _, format := range []string{"text", "json", "markdown", "html"} {
			t.Run(filepath.Base(tt.capture)+"/"+format, func(t *testing.T) {
				in := filepath.Join(repoRoot, tt.capture)
				// --all: the healthy connections are listed too.
				plain := analyzeOutput(t, "--format", format, "--color", "never", "--all", in)
				redacted := analyzeOutput(t, "--format", format, "--color", "never", "--all", "--redact", in)
				shown := tt.everywhere
				if format == "json" {
					shown = append(shown, tt.inJSON...)
				}
				for _, o := range shown {
					if !containsWord(plain, o) {
						t.Errorf("without --redact the %s report lacks %q", format, o)
					}
				}
				for _, o := range append(tt.everywhere, tt.inJSON...) {
					if containsWord(redacted, o) {
						t.Errorf("with --redact the %s report still shows %q", format, o)
					}
				}
				if format == "json" && tt.program != "" && !strings.Contains(redacted, tt.program) {
					t.Errorf("with --redact the %s report lost the program name %q", format, tt.program)
				}
			})
		}
	}
}

func analyzeOutput(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if st := run(append([]string{"analyze"}, args...), nil, &out, &errOut); st == exitError {
		t.Fatalf("analyze %v: exit 2: %s", args, errOut.String())
	}
	return out.String()
}

// containsWord tells whether s holds w not as part of a longer word, so
// that "GP" is not found inside a hex token.
func containsWord(s, w string) bool {
	isWord := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !isWord(s[j-1])) && (end == len(s) || !isWord(s[end])) {
			return true
		}
		i = j + 1
	}
}
